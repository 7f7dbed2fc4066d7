//! Scenario tests of the promotion engine: every transition and gate, over the in-memory
//! repository, with a mocked clock the test moves by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::*;
use crate::class::Classify;
use crate::clock::MockClock;
use crate::intent::WriteOptions;
use crate::memory::MemoryRepository;
use crate::names::ServiceName;
use crate::path::RepoPath;
use crate::pipeline::Pin;
use crate::publish::{Announcement, PublishOutcome, publish};
use crate::reference::ImageRef;
use crate::slots::ImageSet;
use crate::trailers::{BuildInfo, Record};

pub(super) const PIPELINE: &str = r#"[render]
output = "generated/{target}"

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "internal"
images = { tags = "images/internal/tags.json", digests = "images/internal/digests.json" }
targets = ["internal"]
hold = ["billing"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod"]

[target.staging-us]
entrypoint = "envs/staging/main.jsonnet"
ext_vars = { region = "us" }

[target.staging-eu]
entrypoint = "envs/staging/main.jsonnet"
ext_vars = { region = "eu" }
argocd_app = "cfg-staging-eu"

[target.internal]
entrypoint = "envs/internal/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

const SERVICES: [&str; 3] = ["api", "web", "billing"];

pub(super) fn reference(service: &str, n: u64) -> String {
    format!("reg.example.com/{service}:v{n}@sha256:{n:064x}")
}

pub(super) fn image(service: &str, n: u64) -> ImageRef {
    ImageRef::parse(&reference(service, n)).unwrap()
}

pub(super) fn service(name: &str) -> ServiceName {
    ServiceName::parse(name).unwrap()
}

pub(super) fn wave(name: &str) -> WaveName {
    WaveName::parse(name).unwrap()
}

fn admin() -> Approver {
    Approver::parse("alice").unwrap()
}

pub(super) fn target(name: &str) -> TargetSelector {
    TargetSelector::Name(TargetName::parse(name).unwrap())
}

fn deployment(namespace: &str) -> String {
    format!(
        "[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: '{namespace}' }},\n    spec: {{ replicas: 2, template: {{ spec: {{ containers: [{{ name: s, image: image(s) }}] }} }} }} }}\n  for s in ['api', 'web', 'billing']\n]\n"
    )
}

fn files(pipeline: &str) -> Vec<(String, String)> {
    let staging: String = format!(
        "{{\n{}\n}}\n",
        SERVICES
            .iter()
            .map(|s| format!("  \"{s}\": \"{}\"", reference(s, 0)))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let tags = format!(
        "{{\n{}\n}}\n",
        SERVICES
            .iter()
            .map(|s| format!("  \"{s}\": \"reg.example.com/{s}:v0\""))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let digests = format!(
        "{{\n{}\n}}\n",
        SERVICES
            .iter()
            .map(|s| format!("  \"{s}\": \"reg.example.com/{s}@sha256:{:064x}\"", 0))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let prod_images = format!(
        "// Production images: edited by cfgupdate, reviewed by people.\n{{\n  api: '{}',  // the API\n  web: {{ name: 'reg.example.com/web', tag: 'v0', digest: 'sha256:{:064x}' }},\n  billing: \"{}\",\n}}\n",
        reference("api", 0),
        0,
        reference("billing", 0)
    );
    vec![
        ("cfgupdate.toml".into(), pipeline.into()),
        ("images/staging.json".into(), staging),
        ("images/internal/tags.json".into(), tags),
        ("images/internal/digests.json".into(), digests),
        ("envs/prod/images.libsonnet".into(), prod_images),
        (
            "envs/staging/main.jsonnet".into(),
            format!(
                "local images = import '../../images/staging.json';\nlocal image(s) = images[s];\n{}",
                deployment("staging")
            ),
        ),
        (
            "envs/internal/main.jsonnet".into(),
            format!(
                "local tags = import '../../images/internal/tags.json';\nlocal digests = import '../../images/internal/digests.json';\nlocal image(s) = tags[s] + '@' + std.split(digests[s], '@')[1];\n{}",
                deployment("internal")
            ),
        ),
        (
            "envs/prod/main.jsonnet".into(),
            format!(
                "local images = import 'images.libsonnet';\nlocal image(s) = local i = images[s]; if std.isString(i) then i else i.name + ':' + i.tag + '@' + i.digest;\n{}",
                deployment("prod")
            ),
        ),
        ("README.md".into(), "The config repository.\n".into()),
    ]
}

/// A pipeline with a repository, a clock the test moves, and short-hands for the operations.
pub(super) struct World {
    pub(super) repo: MemoryRepository,
    now: Arc<AtomicU64>,
    pub(super) clock: MockClock,
    pub(super) options: WriteOptions,
}

impl World {
    pub(super) fn new() -> Self {
        Self::with_pipeline(PIPELINE)
    }

    fn with_pipeline(pipeline: &str) -> Self {
        let files = files(pipeline);
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let now = Arc::new(AtomicU64::new(1_800_000_000_000));
        let mut clock = MockClock::new();
        let read = now.clone();
        clock.expect_now().returning(move || {
            SystemTime::UNIX_EPOCH + Duration::from_millis(read.load(Ordering::SeqCst))
        });
        clock.expect_sleep().return_const(());
        Self {
            repo: MemoryRepository::new(&borrowed),
            now,
            clock,
            options: WriteOptions::default(),
        }
    }

    pub(super) fn pass(&self, duration: Duration) {
        self.now
            .fetch_add(duration.as_millis() as u64, Ordering::SeqCst);
    }

    fn time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.now.load(Ordering::SeqCst))
    }

    pub(super) fn publish(&mut self, app: u64, images: &[(&str, u64)]) -> CommitId {
        let set: ImageSet = images
            .iter()
            .map(|(s, n)| (service(s), image(s, *n)))
            .collect();
        let announcement =
            Announcement::new(CommitId::parse(&format!("{app:040x}")).unwrap(), set).unwrap();
        match publish(&mut self.repo, &self.clock, &announcement, &self.options).unwrap() {
            PublishOutcome::Committed { commit, .. } => commit,
            other => panic!("publish {app} changed nothing: {other:?}"),
        }
    }

    pub(super) fn report(
        &mut self,
        who: &str,
        revision: &CommitId,
        status: DeployStatus,
    ) -> DeploymentOutcome {
        let report = DeployReport {
            target: target(who),
            revision: revision.clone(),
            status,
        };
        record_deployment(&mut self.repo, &self.clock, &report, &self.options).unwrap()
    }

    pub(super) fn deploy_staging(&mut self, revision: &CommitId) -> DeploymentOutcome {
        self.report("staging-us", revision, DeployStatus::Succeeded);
        self.report("staging-eu", revision, DeployStatus::Succeeded)
    }

    pub(super) fn images(&mut self, name: &str) -> ImageSet {
        let status = status(&mut self.repo, &self.clock, self.options.key.as_ref()).unwrap();
        let wave = status
            .waves
            .into_iter()
            .find(|w| w.name.as_str() == name)
            .unwrap();
        assert_eq!(wave.images_error, None);
        wave.images
    }

    pub(super) fn commits(&self) -> usize {
        self.repo.remote_history().len()
    }

    pub(super) fn last_record(&self) -> Record {
        Record::parse(&self.repo.remote_history()[0].1)
    }
}

pub(super) fn set(images: &[(&str, u64)]) -> ImageSet {
    images
        .iter()
        .map(|(s, n)| (service(s), image(s, *n)))
        .collect()
}

#[test]
fn promotes_exactly_the_images_deployed_at_the_reported_revision() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1), ("web", 1)]);
    let _second = world.publish(2, &[("api", 2), ("web", 2)]);
    // Staging reports the first revision only after the second was published.
    let outcome = world.deploy_staging(&first);
    let DeploymentOutcome::Promoted {
        commit, wave: into, ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(into.as_str(), "internal");
    assert_eq!(&commit, world.repo.remote_tip());
    let internal = world.images("internal");
    assert_eq!(internal[&service("api")], image("api", 1));
    assert_eq!(internal[&service("web")], image("web", 1));
    let record = world.last_record();
    assert_eq!(record.action.as_deref(), Some("promote"));
    assert_eq!(record.source_wave, Some(wave("staging")));
    assert_eq!(record.source_revision, Some(first));
    assert_eq!(
        record.app_commits,
        vec![CommitId::parse(&format!("{:040x}", 1)).unwrap()]
    );
    // The two-file layout got both parts.
    let tags = world.repo.remote_text("images/internal/tags.json").unwrap();
    let digests = world
        .repo
        .remote_text("images/internal/digests.json")
        .unwrap();
    assert!(tags.contains("\"reg.example.com/api:v1\""), "{tags}");
    assert!(
        digests.contains(&format!("\"reg.example.com/api@sha256:{:064x}\"", 1)),
        "{digests}"
    );
    // And the internal target's YAML was regenerated in the same commit.
    let yaml = world
        .repo
        .remote_text("generated/internal/deployment-internal-api.yaml")
        .unwrap();
    assert!(yaml.contains(&reference("api", 1)), "{yaml}");
}

#[test]
fn a_wave_with_a_target_that_has_not_reported_does_not_promote() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    let commits = world.commits();
    let outcome = world.report("staging-us", &revision, DeployStatus::Succeeded);
    assert!(
        matches!(&outcome, DeploymentOutcome::Recorded { reason } if reason.contains("staging-eu")),
        "{outcome:?}"
    );
    assert_eq!(world.commits(), commits);
}

#[test]
fn the_argo_cd_application_name_stands_for_its_target() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    let report = DeployReport {
        target: TargetSelector::App("cfg-staging-eu".into()),
        revision,
        status: DeployStatus::Succeeded,
    };
    let outcome =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap();
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
}

#[test]
fn targets_that_run_different_image_sets_do_not_promote() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    let second = world.publish(2, &[("api", 2)]);
    world.report("staging-us", &first, DeployStatus::Succeeded);
    let outcome = world.report("staging-eu", &second, DeployStatus::Succeeded);
    assert!(
        matches!(&outcome, DeploymentOutcome::Recorded { reason } if reason.contains("different image sets")),
        "{outcome:?}"
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
}

#[test]
fn targets_at_different_revisions_with_the_same_images_promote_from_the_newest() {
    let mut world = World::new();
    let published = world.publish(1, &[("api", 1)]);
    world.repo.person_pushes("Edit the README", |tree| {
        tree.insert(RepoPath::parse("README.md").unwrap(), b"Edited.\n".to_vec());
    });
    let later = world.repo.remote_tip().clone();
    world.report("staging-us", &published, DeployStatus::Succeeded);
    let outcome = world.report("staging-eu", &later, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.last_record().source_revision, Some(later));
}

#[test]
fn a_failed_report_blocks_promotion_until_a_later_success() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    world.report("staging-eu", &revision, DeployStatus::Failed);
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
    let status = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
    let step = status.waves[0].promotion.as_ref().unwrap();
    assert_eq!(step.state, StepState::Blocked);
    assert!(step.reason.contains("staging-eu"), "{}", step.reason);
    // A success of the same target at the same revision, later, lets it through.
    let outcome = world.report("staging-eu", &revision, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
}

#[test]
fn a_late_report_for_an_older_revision_does_not_override_a_newer_one() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    let second = world.publish(2, &[("api", 2)]);
    world.report("staging-us", &second, DeployStatus::Succeeded);
    // A hook for the first revision arrives late, failed: the target already runs the second.
    world.report("staging-us", &first, DeployStatus::Failed);
    let outcome = world.report("staging-eu", &second, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 2));
}

#[test]
fn a_repeated_report_changes_nothing() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    let (commits, pushes) = (world.commits(), world.repo.pushes);
    // PostSync hooks fire on every sync.
    for _ in 0..3 {
        let outcome = world.deploy_staging(&revision);
        assert!(
            matches!(outcome, DeploymentOutcome::Recorded { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(world.commits(), commits);
    assert_eq!(
        world.repo.pushes, pushes,
        "neither the branch nor the state was pushed again"
    );
}

#[test]
fn reports_for_revisions_older_than_the_last_promotion_never_promote() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    let second = world.publish(2, &[("api", 2)]);
    // The second revision is promoted by hand before staging reported anything.
    promote(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &second,
        &world.options,
    )
    .unwrap();
    assert_eq!(world.images("internal")[&service("api")], image("api", 2));
    // Then staging's hooks for the first revision arrive: recorded, never promoted.
    let commits = world.commits();
    let outcome = world.deploy_staging(&first);
    assert!(
        matches!(&outcome, DeploymentOutcome::Recorded { reason } if reason.contains("not newer")),
        "{outcome:?}"
    );
    assert_eq!(world.commits(), commits);
    assert_eq!(world.images("internal")[&service("api")], image("api", 2));
    // A late report for an older revision, after a newer one, does not count either.
    world.deploy_staging(&second);
    let outcome = world.report("staging-us", &first, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Recorded { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 2));
}

#[test]
fn an_image_set_already_promoted_is_not_promoted_again_over_a_person_s_change() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    // A person pins internal's api by hand.
    world.repo.person_pushes("Pin api in internal", |tree| {
        let path = RepoPath::parse("images/internal/tags.json").unwrap();
        let text = String::from_utf8(tree[&path].clone())
            .unwrap()
            .replace("api:v1", "api:v9");
        tree.insert(path, text.into_bytes());
    });
    let later = world.repo.remote_tip().clone();
    let outcome = world.deploy_staging(&later);
    assert!(
        matches!(&outcome, DeploymentOutcome::Recorded { reason } if reason.contains("already promoted")),
        "{outcome:?}"
    );
    assert!(
        world
            .repo
            .remote_text("images/internal/tags.json")
            .unwrap()
            .contains("api:v9")
    );
}

#[test]
fn held_services_stay_as_they_are_in_the_next_wave() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1), ("billing", 1)]);
    world.deploy_staging(&revision);
    let internal = world.images("internal");
    assert_eq!(internal[&service("api")], image("api", 1));
    assert_eq!(internal[&service("billing")], image("billing", 0));
    assert!(
        world.repo.remote_history()[0]
            .1
            .contains("Held in internal: billing.")
    );
}

#[test]
fn promotion_into_a_jsonnet_wave_writes_strings_and_parts_in_place() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1), ("web", 1)]);
    world.deploy_staging(&revision);
    let internal_revision = world.repo.remote_tip().clone();
    let outcome = world.report("internal", &internal_revision, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    let prod = world
        .repo
        .remote_text("envs/prod/images.libsonnet")
        .unwrap();
    assert!(
        prod.starts_with("// Production images: edited by cfgupdate, reviewed by people.\n"),
        "{prod}"
    );
    assert!(
        prod.contains(&format!("api: '{}',  // the API", reference("api", 1))),
        "{prod}"
    );
    assert!(
        prod.contains(&format!(
            "web: {{ name: 'reg.example.com/web', tag: 'v1', digest: 'sha256:{:064x}' }}",
            1
        )),
        "{prod}"
    );
    assert!(
        prod.contains(&format!("billing: \"{}\"", reference("billing", 0))),
        "billing is held in internal, so production keeps v0: {prod}"
    );
}

#[test]
fn the_soak_gate_waits_then_opens_without_another_report() {
    let pipeline = PIPELINE.replace(
        "hold = [\"billing\"]",
        "hold = [\"billing\"]\nsoak = \"10m\"",
    );
    let mut world = World::with_pipeline(&pipeline);
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    world.pass(Duration::from_secs(60));
    let outcome = world.report("staging-eu", &revision, DeployStatus::Succeeded);
    let completed = world.time();
    let DeploymentOutcome::Pending {
        wave: into,
        gate: Gate::Soak { ready_at },
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(into.as_str(), "internal");
    assert_eq!(ready_at, Some(completed + Duration::from_secs(600)));
    // A repeated hook later does not restart the soak.
    world.pass(Duration::from_secs(300));
    world.report("staging-eu", &revision, DeployStatus::Succeeded);
    let early = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert!(early.promoted.is_empty());
    assert_eq!(early.next_deadline, ready_at);
    world.pass(Duration::from_secs(300));
    let due = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert_eq!(due.promoted.len(), 1, "{due:?}");
    // The promotion says when staging completed: the first report, not the repeated one.
    assert_eq!(due.promoted[0].completed_at, Some(completed));
    assert_eq!(due.promoted[0].action, crate::trailers::Action::Promote);
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

/// A soak that ended on a timer's pass leaves the promotion waiting for approval, which no
/// report says (the one that completed the wave said "soak"): the pass says it, once, also
/// to another process's pass, through its record in the state.
#[test]
fn a_soak_that_ends_into_an_approval_gate_is_announced_once() {
    let pipeline = PIPELINE.replace(
        "hold = [\"billing\"]",
        "hold = [\"billing\"]\nsoak = \"10m\"\napproval = true",
    );
    let mut world = World::with_pipeline(&pipeline);
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    let outcome = world.report("staging-eu", &revision, DeployStatus::Succeeded);
    assert!(
        matches!(
            outcome,
            DeploymentOutcome::Pending {
                gate: Gate::Soak { .. },
                ..
            }
        ),
        "{outcome:?}"
    );
    let early = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert!(early.awaiting_approval.is_empty(), "{early:?}");
    world.pass(Duration::from_secs(601));
    let due = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert!(due.promoted.is_empty(), "{due:?}");
    assert_eq!(
        due.awaiting_approval,
        vec![(wave("internal"), revision.clone())]
    );
    // Said once: not by the next pass, nor by another process's.
    let again = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert!(again.awaiting_approval.is_empty(), "{again:?}");
    let mut other = world.repo.clone();
    other.forget_cache();
    let elsewhere = advance(&mut other, &world.clock, &world.options).unwrap();
    assert!(elsewhere.awaiting_approval.is_empty(), "{elsewhere:?}");
    // Approved, promoted; a new candidate that soaks into the gate is said again.
    let approved = approve(
        &mut world.repo,
        &world.clock,
        &wave("internal"),
        &admin(),
        &world.options,
    )
    .unwrap();
    assert!(
        matches!(approved, ApprovalOutcome::Promoted { .. }),
        "{approved:?}"
    );
    let next = world.publish(2, &[("api", 2)]);
    world.report("staging-us", &next, DeployStatus::Succeeded);
    world.report("staging-eu", &next, DeployStatus::Succeeded);
    world.pass(Duration::from_secs(601));
    let due = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert_eq!(due.awaiting_approval, vec![(wave("internal"), next)]);
}

#[test]
fn the_approval_gate_lets_exactly_the_approved_images_through() {
    let pipeline = PIPELINE.replace(
        "targets = [\"prod\"]",
        "targets = [\"prod\"]\napproval = true",
    );
    let mut world = World::with_pipeline(&pipeline);
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    let internal = world.repo.remote_tip().clone();
    let outcome = world.report("internal", &internal, DeployStatus::Succeeded);
    assert!(
        matches!(
            outcome,
            DeploymentOutcome::Pending {
                gate: Gate::Approval,
                ..
            }
        ),
        "{outcome:?}"
    );
    let commits = world.commits();
    let approved = approve(
        &mut world.repo,
        &world.clock,
        &wave("production"),
        &admin(),
        &world.options,
    )
    .unwrap();
    let ApprovalOutcome::Promoted { wave: into, .. } = approved else {
        panic!("{approved:?}")
    };
    assert_eq!(into.as_str(), "production");
    assert_eq!(world.commits(), commits + 1);
    assert_eq!(world.last_record().action.as_deref(), Some("approve"));
    // Approving again, with nothing waiting, changes nothing.
    let again = approve(
        &mut world.repo,
        &world.clock,
        &wave("production"),
        &admin(),
        &world.options,
    )
    .unwrap();
    assert!(
        matches!(again, ApprovalOutcome::Unchanged { .. }),
        "{again:?}"
    );
    // A new image set needs a new approval.
    let next = world.publish(2, &[("api", 2)]);
    world.deploy_staging(&next);
    let internal = world.repo.remote_tip().clone();
    let outcome = world.report("internal", &internal, DeployStatus::Succeeded);
    assert!(
        matches!(
            outcome,
            DeploymentOutcome::Pending {
                gate: Gate::Approval,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn approving_a_wave_without_an_approval_gate_or_the_first_wave_says_so() {
    let mut world = World::new();
    let error = approve(
        &mut world.repo,
        &world.clock,
        &wave("internal"),
        &admin(),
        &world.options,
    )
    .unwrap_err();
    assert!(
        matches!(&error, PromotionError::NoApprovalGate { wave } if wave.as_str() == "internal"),
        "{error:?}"
    );
    assert_eq!(error.class(), crate::class::ErrorClass::Invalid);
    assert!(error.to_string().contains("no approval gate"), "{error}");
    let error = approve(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &admin(),
        &world.options,
    )
    .unwrap_err();
    assert!(matches!(error, PromotionError::FirstWave { .. }), "{error}");
    let error = approve(
        &mut world.repo,
        &world.clock,
        &wave("qa"),
        &admin(),
        &world.options,
    )
    .unwrap_err();
    assert!(error.to_string().contains("`qa`"), "{error}");
}

#[test]
fn unknown_targets_apps_and_revisions_are_refused_and_nothing_is_recorded() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    let pushes = world.repo.pushes;
    let unknown_target = DeployReport {
        target: target("nope"),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let error = record_deployment(
        &mut world.repo,
        &world.clock,
        &unknown_target,
        &world.options,
    )
    .unwrap_err();
    assert!(
        matches!(error, PromotionError::UnknownTarget { .. })
            && error.to_string().contains("`nope`"),
        "{error}"
    );
    let unknown_app = DeployReport {
        target: TargetSelector::App("cfg-nope".into()),
        revision,
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &unknown_app, &world.options).unwrap_err();
    assert!(error.to_string().contains("`cfg-nope`"), "{error}");
    let missing = CommitId::parse(&"f".repeat(40)).unwrap();
    let unknown_revision = DeployReport {
        target: target("staging-us"),
        revision: missing.clone(),
        status: DeployStatus::Succeeded,
    };
    let error = record_deployment(
        &mut world.repo,
        &world.clock,
        &unknown_revision,
        &world.options,
    )
    .unwrap_err();
    assert!(
        matches!(error, PromotionError::UnknownRevision { .. })
            && error.to_string().contains(missing.as_str()),
        "{error}"
    );
    assert_eq!(world.repo.pushes, pushes);
}

#[test]
fn manual_promotion_applies_the_gates_and_refuses_to_go_backwards() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    let second = world.publish(2, &[("api", 2)]);
    let outcome = promote(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &second,
        &world.options,
    )
    .unwrap();
    assert!(
        matches!(outcome, PromoteOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 2));
    let error = promote(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &first,
        &world.options,
    )
    .unwrap_err();
    assert!(matches!(error, PromotionError::Stale { .. }), "{error}");
    let again = promote(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &second,
        &world.options,
    )
    .unwrap();
    assert!(
        matches!(again, PromoteOutcome::Unchanged { .. }),
        "{again:?}"
    );
    let error = promote(
        &mut world.repo,
        &world.clock,
        &wave("production"),
        &second,
        &world.options,
    )
    .unwrap_err();
    assert!(matches!(error, PromotionError::LastWave { .. }), "{error}");

    let gated = PIPELINE.replace(
        "targets = [\"prod\"]",
        "targets = [\"prod\"]\napproval = true",
    );
    let mut world = World::with_pipeline(&gated);
    let revision = world.publish(1, &[("api", 1)]);
    let error = promote(
        &mut world.repo,
        &world.clock,
        &wave("internal"),
        &revision,
        &world.options,
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            PromotionError::Gated {
                gate: Gate::Approval,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn status_shows_images_reports_and_what_waits_on_which_gate() {
    let pipeline = PIPELINE.replace(
        "hold = [\"billing\"]",
        "hold = [\"billing\"]\nsoak = \"10m\"",
    );
    let mut world = World::with_pipeline(&pipeline);
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    let status = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
    assert_eq!(status.waves.len(), 3);
    let staging = &status.waves[0];
    assert_eq!(staging.images[&service("api")], image("api", 1));
    assert_eq!(
        staging.targets[0].last_report.as_ref().map(|r| &r.revision),
        Some(&revision)
    );
    let step = staging.promotion.as_ref().unwrap();
    assert_eq!(step.state, StepState::Waiting);
    assert!(matches!(step.gate, Some(Gate::Soak { ready_at: Some(_) })));
    assert!(
        step.ready_at().is_some()
            && step
                .images
                .as_ref()
                .is_some_and(|i| i[&service("api")] == image("api", 1))
    );
    assert_eq!(status.waves[1].soak, Some(Duration::from_secs(600)));
    assert!(status.waves[2].promotion.is_none());
}

#[test]
fn status_tells_report_ages_soak_left_what_would_change_and_the_recent_history() {
    let pipeline = PIPELINE.replace(
        "hold = [\"billing\"]",
        "hold = [\"billing\"]\nsoak = \"10m\"",
    );
    let mut world = World::with_pipeline(&pipeline);
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    world.pass(Duration::from_secs(90));
    let now = world.time();
    let status = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
    let staging = &status.waves[0];
    let report = staging.targets[1].last_report.as_ref().unwrap();
    assert_eq!(report.age(now), Duration::from_secs(90));
    // A report stamped ahead of the reader's clock (another replica's) is no negative age.
    assert_eq!(report.age(now - Duration::from_secs(3600)), Duration::ZERO);
    let step = staging.promotion.as_ref().unwrap();
    // The soak of `internal` is 10 minutes from the report that completed staging.
    assert_eq!(step.soak_left(now), Some(Duration::from_secs(510)));
    assert_eq!(
        step.soak_left(now + Duration::from_secs(3600)),
        Some(Duration::ZERO)
    );
    let internal = &status.waves[1].images;
    let changes: Vec<&str> = step
        .changes(internal)
        .iter()
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(changes, ["api"]);
    // No soak, no soak left: the last wave has no step, an idle step none.
    assert_eq!(
        status.waves[1].promotion.as_ref().unwrap().soak_left(now),
        None
    );
    let actions: Vec<&str> = status.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["publish"]);
    assert_eq!(status.history[0].commit, revision);
}

#[test]
fn history_lists_the_automatic_commits_newest_first() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    world.repo.person_pushes("A person's commit", |_| {});
    let entries = history(&mut world.repo, 10, world.options.key.as_ref()).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["promote", "publish"]);
    assert_eq!(entries[0].source_revision, Some(revision));
}

#[test]
fn an_announcement_of_an_older_build_is_refused_as_stale() {
    let mut world = World::new();
    let announce = |app: u64, n: u64, build: u64| {
        Announcement::new(
            CommitId::parse(&format!("{app:040x}")).unwrap(),
            set(&[("api", n)]),
        )
        .unwrap()
        .with_build(BuildInfo {
            number: Some(build),
            created_at: None,
        })
    };
    publish(
        &mut world.repo,
        &world.clock,
        &announce(2, 2, 20),
        &world.options,
    )
    .unwrap();
    let error = publish(
        &mut world.repo,
        &world.clock,
        &announce(1, 1, 10),
        &world.options,
    )
    .unwrap_err();
    assert!(
        matches!(error, crate::publish::PublishError::Stale { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("number=20") && error.to_string().contains("number=10"),
        "{error}"
    );
    // The same build again is a replay, not stale.
    assert_eq!(
        publish(
            &mut world.repo,
            &world.clock,
            &announce(2, 2, 20),
            &world.options
        )
        .unwrap(),
        PublishOutcome::Unchanged
    );
}

// --- State and trailers only cfgupdate can write
// (docs/promotion.md#state-only-cfgupdate-can-write)

pub(super) fn state_key() -> crate::key::StateKey {
    crate::key::StateKey::new(b"a state key of the test suite").unwrap()
}

impl World {
    pub(super) fn keyed(pipeline: &str) -> Self {
        let mut world = Self::with_pipeline(pipeline);
        world.options.key = Some(state_key());
        world
    }

    /// The remote's state document as JSON, to edit as a forger would.
    fn state_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.repo.remote_state().unwrap().content).unwrap()
    }

    pub(super) fn announce(
        &mut self,
        app: u64,
        images: &[(&str, u64)],
        build: Option<u64>,
    ) -> Result<PublishOutcome, crate::publish::PublishError> {
        let mut announcement = Announcement::new(
            CommitId::parse(&format!("{app:040x}")).unwrap(),
            set(images),
        )
        .unwrap();
        if let Some(number) = build {
            announcement = announcement.with_build(BuildInfo {
                number: Some(number),
                created_at: None,
            });
        }
        publish(&mut self.repo, &self.clock, &announcement, &self.options)
    }

    pub(super) fn staging_api(&self) -> String {
        self.repo.remote_text("images/staging.json").unwrap()
    }
}

fn approval_pipeline() -> String {
    PIPELINE.replace(
        "targets = [\"prod\"]",
        "targets = [\"prod\"]\napproval = true",
    )
}

#[test]
fn a_forged_approval_in_the_state_promotes_nothing_until_state_reset() {
    let mut world = World::keyed(&approval_pipeline());
    let revision = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&revision);
    let internal = world.repo.remote_tip().clone();
    let outcome = world.report("internal", &internal, DeployStatus::Succeeded);
    assert!(
        matches!(
            outcome,
            DeploymentOutcome::Pending {
                gate: Gate::Approval,
                ..
            }
        ),
        "{outcome:?}"
    );
    // A person with push access adds an approval of exactly the waiting images.
    let waiting = status(&mut world.repo, &world.clock, world.options.key.as_ref())
        .unwrap()
        .waves[1]
        .promotion
        .clone()
        .unwrap();
    let mut doc = world.state_json();
    doc["approvals"]["production"] = serde_json::json!([{
        "images": waiting.images.unwrap(),
        "source_revision": waiting.source_revision.unwrap(),
        "at": 1,
        "by": "mallory",
    }]);
    world
        .repo
        .person_pushes_state(&serde_json::to_vec(&doc).unwrap());
    let commits = world.commits();
    // Neither the timer nor another report moves anything, and each says why.
    let error = advance(&mut world.repo, &world.clock, &world.options).unwrap_err();
    assert!(
        matches!(
            error,
            PromotionError::State(StateProblem::Unauthenticated { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains("state reset"), "{error}");
    let report = DeployReport {
        target: target("internal"),
        revision: internal.clone(),
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    assert_eq!(
        error.class(),
        crate::class::ErrorClass::Unavailable,
        "{error}"
    );
    assert_eq!(world.commits(), commits);
    assert_eq!(world.images("production")[&service("api")], image("api", 0));
    // Status still answers, says why, shows no forged report and blocks every step.
    let seen = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
    let problem = seen.state.problem.clone().unwrap();
    assert!(problem.contains("not written by cfgupdate"), "{problem}");
    assert!(
        seen.waves
            .iter()
            .all(|w| w.targets.iter().all(|t| t.last_report.is_none()))
    );
    assert!(seen.waves[1].promotion.as_ref().unwrap().state == StepState::Blocked);
    // An admin resets the state: reports come again, a real approval lets the images through
    // and the promotion names the approver.
    reset_state(
        &mut world.repo,
        &world.clock,
        world.options.key.as_ref(),
        &world.options.retry,
    )
    .unwrap();
    world.deploy_staging(&revision);
    world.report("internal", &internal, DeployStatus::Succeeded);
    let by = Approver::parse("Alice Admin").unwrap();
    let approved = approve(
        &mut world.repo,
        &world.clock,
        &wave("production"),
        &by,
        &world.options,
    )
    .unwrap();
    assert!(
        matches!(approved, ApprovalOutcome::Promoted { .. }),
        "{approved:?}"
    );
    assert_eq!(
        world.last_record().approved_by.as_deref(),
        Some("Alice Admin")
    );
    assert_eq!(world.images("production")[&service("api")], image("api", 1));
    let state = PipelineState::parse(Some(&world.repo.remote_state().unwrap().content)).unwrap();
    assert_eq!(state.approvals[&wave("production")][0].by, Some(by));
}

#[test]
fn forged_deploy_reports_are_not_counted() {
    let mut world = World::keyed(PIPELINE);
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    // The forger adds staging-eu's success; cfgupdate's own report of staging-us again is then
    // refused, and nothing is promoted.
    let mut doc = world.state_json();
    doc["reports"]["staging-eu"] = serde_json::json!([{
        "revision": revision, "status": "succeeded", "at": 1,
    }]);
    world
        .repo
        .person_pushes_state(&serde_json::to_vec(&doc).unwrap());
    let commits = world.commits();
    assert!(advance(&mut world.repo, &world.clock, &world.options).is_err());
    let report = DeployReport {
        target: target("staging-us"),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    assert!(record_deployment(&mut world.repo, &world.clock, &report, &world.options).is_err());
    assert_eq!(world.commits(), commits);
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
}

#[test]
fn without_a_key_a_forged_state_is_read_and_status_warns() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    let seen = status(&mut world.repo, &world.clock, None).unwrap();
    assert!(!seen.state.authenticated);
    assert!(
        seen.state
            .warning
            .as_deref()
            .unwrap()
            .contains("CFGUPDATE_STATE_KEY")
    );
    assert_eq!(seen.state.problem, None);
}

#[test]
fn a_forged_commit_with_a_huge_build_number_changes_nothing_and_real_ones_still_count() {
    let mut world = World::keyed(PIPELINE);
    assert!(matches!(
        world.announce(1, &[("api", 1)], Some(5)),
        Ok(PublishOutcome::Committed { .. })
    ));
    let forged = format!(
        "Bump\n\nCfgupdate-Action: publish\nCfgupdate-Wave: staging\nCfgupdate-App-Commit: {app:040x}\nCfgupdate-Image: api={} {app:040x}\nCfgupdate-Build: api number=999999999",
        reference("api", 9),
        app = 9
    );
    world.repo.person_pushes(&forged, |_| {});
    let outcome = world.announce(2, &[("api", 2)], Some(6)).unwrap();
    assert!(
        matches!(outcome, PublishOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert!(world.staging_api().contains(&reference("api", 2)));
    // cfgupdate's own publish of build 6 counts: build 5 again is stale.
    let error = world.announce(3, &[("api", 3)], Some(5)).unwrap_err();
    assert!(
        matches!(error, crate::publish::PublishError::Stale { .. }),
        "{error}"
    );
    // History shows the forged commit, marked, and cfgupdate's own as sealed.
    let entries = history(&mut world.repo, 10, world.options.key.as_ref()).unwrap();
    let sealed: Vec<Option<bool>> = entries.iter().map(|e| e.sealed).collect();
    assert_eq!(
        sealed,
        vec![Some(true), Some(false), Some(true)],
        "{entries:?}"
    );
}

#[test]
fn a_replayed_old_build_after_300_unrelated_commits_rolls_nothing_back() {
    for keyed in [true, false] {
        let mut world = if keyed {
            World::keyed(PIPELINE)
        } else {
            World::new()
        };
        world.announce(1, &[("api", 1)], Some(1)).unwrap();
        world.announce(2, &[("api", 2)], Some(2)).unwrap();
        world.announce(4, &[("web", 4)], None).unwrap();
        world.announce(5, &[("web", 5)], None).unwrap();
        for n in 0..300 {
            world
                .repo
                .person_pushes(&format!("Unrelated change {n}"), |tree| {
                    tree.insert(
                        RepoPath::parse("README.md").unwrap(),
                        format!("{n}\n").into_bytes(),
                    );
                });
        }
        // The old announcement again is a replay (docs/promotion.md): answered unchanged.
        assert_eq!(
            world.announce(1, &[("api", 1)], Some(1)).unwrap(),
            PublishOutcome::Unchanged
        );
        // An old build announced anew is stale.
        let error = world.announce(3, &[("api", 3)], Some(1)).unwrap_err();
        assert!(
            matches!(error, crate::publish::PublishError::Stale { .. }),
            "{error}"
        );
        // Without build information the replay is recognised as already published.
        assert_eq!(
            world.announce(4, &[("web", 4)], None).unwrap(),
            PublishOutcome::Unchanged
        );
        let staging = world.staging_api();
        assert!(
            staging.contains(&reference("api", 2)) && staging.contains(&reference("web", 5)),
            "{staging}"
        );
    }
}

#[test]
fn a_publish_after_many_commits_records_them_so_the_next_reads_only_new_ones() {
    let mut world = World::keyed(PIPELINE);
    world.announce(1, &[("api", 1)], Some(1)).unwrap();
    for n in 0..100 {
        world
            .repo
            .person_pushes(&format!("Unrelated change {n}"), |tree| {
                tree.insert(
                    RepoPath::parse("README.md").unwrap(),
                    format!("{n}\n").into_bytes(),
                );
            });
    }
    let Ok(PublishOutcome::Committed { commit, .. }) = world.announce(2, &[("api", 2)], Some(2))
    else {
        panic!("not published")
    };
    let state = PipelineState::parse(Some(&world.repo.remote_state().unwrap().content)).unwrap();
    assert_eq!(state.published.tip.as_ref(), Some(&commit));
    assert_eq!(
        state.published.services[&service("api")].build_number,
        Some(2)
    );
}

#[test]
fn a_deleted_state_is_refused_once_cfgupdate_has_written_and_reset_starts_again() {
    let mut world = World::keyed(PIPELINE);
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    world.repo.person_deletes_state();
    let report = DeployReport {
        target: target("staging-eu"),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    assert!(
        matches!(error, PromotionError::State(StateProblem::Missing { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("missing") && error.to_string().contains("state reset"),
        "{error}"
    );
    // Publishing, whose protection lives in the state, is refused the same way.
    let error = world.announce(2, &[("api", 2)], Some(1)).unwrap_err();
    assert_eq!(
        error.class(),
        crate::class::ErrorClass::Unavailable,
        "{error}"
    );
    let seen = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
    assert!(seen.state.problem.unwrap().contains("missing"));
    reset_state(
        &mut world.repo,
        &world.clock,
        world.options.key.as_ref(),
        &world.options.retry,
    )
    .unwrap();
    // The protection was rebuilt from the sealed publish: app 1 again is already published.
    assert_eq!(
        world.announce(1, &[("api", 1)], None).unwrap(),
        PublishOutcome::Unchanged
    );
    world.deploy_staging(&revision);
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

#[test]
fn an_unreadable_or_newer_state_gives_a_clear_sentence_and_status_still_answers() {
    for (content, expected) in [
        (&b"garbage"[..], "is not JSON"),
        // Unauthenticated, whatever it claims: only cfgupdate's own document may say "newer".
        (&br#"{"version": 99}"#[..], "not written by cfgupdate"),
        (
            &br#"{"version": 2, "reports": []}"#[..],
            "not written by cfgupdate",
        ),
    ] {
        let mut world = World::keyed(PIPELINE);
        let revision = world.publish(1, &[("api", 1)]);
        world.repo.person_pushes_state(content);
        let report = DeployReport {
            target: target("staging-us"),
            revision: revision.clone(),
            status: DeployStatus::Succeeded,
        };
        let error =
            record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(error.class(), crate::class::ErrorClass::Unavailable);
        let seen = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
        assert!(seen.state.problem.unwrap().contains(expected));
    }
}

#[test]
fn state_reset_needs_the_key() {
    let mut world = World::new();
    let error = reset_state(&mut world.repo, &world.clock, None, &world.options.retry).unwrap_err();
    assert_eq!(error, PromotionError::KeyRequired);
    assert_eq!(error.class(), crate::class::ErrorClass::Invalid);
}

#[test]
fn an_approver_identity_is_one_line_of_printable_text() {
    assert_eq!(Approver::parse("  Alice  ").unwrap().as_str(), "Alice");
    assert!(matches!(Approver::parse(" "), Err(ApproverError::Empty)));
    assert!(matches!(
        Approver::parse("alice\nCfgupdate-Approved-By: bob"),
        Err(ApproverError::Control { .. })
    ));
    assert!(matches!(
        Approver::parse("alice\u{202e}"),
        Err(ApproverError::Control { .. })
    ));
    assert!(matches!(
        Approver::parse(&"a".repeat(129)),
        Err(ApproverError::TooLong { len: 129 })
    ));
    // A credential's name the rules refuse stands for the unnamed approver, never in a trailer.
    assert_eq!(Approver::of_credential(" ops@team ").as_str(), "ops@team");
    assert_eq!(
        Approver::of_credential("alice\nCfgupdate-Approved-By: bob"),
        Approver::default()
    );
}

/// A repository that counts the commits its `log` returned.
struct CountingLog {
    inner: MemoryRepository,
    read: std::cell::Cell<usize>,
}

impl crate::repository::ConfigRepository for CountingLog {
    fn tip(&self) -> Result<CommitId, crate::repository::RepositoryError> {
        self.inner.tip()
    }
    fn refresh(&mut self) -> Result<CommitId, crate::repository::RepositoryError> {
        self.inner.refresh()
    }
    fn is_fresh(&self) -> bool {
        self.inner.is_fresh()
    }
    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, crate::repository::RepositoryError> {
        self.inner.read_file(revision, path)
    }
    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, crate::repository::RepositoryError> {
        self.inner.list_files(revision, under)
    }
    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, crate::repository::RepositoryError> {
        self.inner.is_ancestor(ancestor, descendant)
    }
    fn log(
        &self,
        from: &CommitId,
        limit: usize,
    ) -> Result<Vec<crate::repository::CommitInfo>, crate::repository::RepositoryError> {
        let log = self.inner.log(from, limit)?;
        self.read.set(self.read.get() + log.len());
        Ok(log)
    }
    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &crate::repository::Change,
    ) -> Result<crate::repository::PushOutcome, crate::repository::RepositoryError> {
        self.inner.commit_and_push(parent, change)
    }
    fn state(
        &self,
    ) -> Result<Option<crate::repository::StateVersion>, crate::repository::RepositoryError> {
        self.inner.state()
    }
    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<crate::repository::PushOutcome, crate::repository::RepositoryError> {
        self.inner.push_state(parent, content, message)
    }

    fn state_anchor(
        &self,
    ) -> Result<Option<crate::repository::StateVersion>, crate::repository::RepositoryError> {
        self.inner.state_anchor()
    }

    fn set_state_anchor(
        &self,
        commit: &CommitId,
    ) -> Result<(), crate::repository::RepositoryError> {
        self.inner.set_state_anchor(commit)
    }
}

#[test]
fn a_publishs_protection_reads_the_commits_since_the_state_not_the_history() {
    let mut world = World::keyed(PIPELINE);
    world.announce(1, &[("api", 1)], Some(1)).unwrap();
    // A long history by people, recorded once by the timer.
    for n in 0..3000 {
        world
            .repo
            .person_pushes(&format!("Old change {n}"), |tree| {
                tree.insert(
                    RepoPath::parse("README.md").unwrap(),
                    format!("{n}\n").into_bytes(),
                );
            });
    }
    advance(&mut world.repo, &world.clock, &world.options).unwrap();
    let mut repo = CountingLog {
        inner: world.repo.clone(),
        read: std::cell::Cell::new(0),
    };
    let announcement = Announcement::new(
        CommitId::parse(&format!("{:040x}", 2)).unwrap(),
        set(&[("api", 2)]),
    )
    .unwrap()
    .with_build(BuildInfo {
        number: Some(2),
        created_at: None,
    });
    let outcome = publish(&mut repo, &world.clock, &announcement, &world.options).unwrap();
    assert!(
        matches!(outcome, PublishOutcome::Committed { .. }),
        "{outcome:?}"
    );
    // A few pages of the newest commits (the replay protection's, and the holds' look for
    // people's edits since the state last looked, each one page), never the 3,000 behind them.
    assert!(
        repo.read.get() <= 4 * 64,
        "read {} commits",
        repo.read.get()
    );
    // A replay of build 1 (from before the 3,000 commits) is still refused.
    let old = Announcement::new(
        CommitId::parse(&format!("{:040x}", 3)).unwrap(),
        set(&[("api", 3)]),
    )
    .unwrap()
    .with_build(BuildInfo {
        number: Some(1),
        created_at: None,
    });
    let error = publish(&mut repo, &world.clock, &old, &world.options).unwrap_err();
    assert!(
        matches!(error, crate::publish::PublishError::Stale { .. }),
        "{error}"
    );
}
#[test]
fn status_names_the_services_whose_slots_cannot_hold_a_digest_and_the_wave_s_pin() {
    for (pin, word) in [("", Pin::Digest), ("pin = \"tag\"\n", Pin::Tag)] {
        let pipeline = PIPELINE.replace(
            "targets = [\"prod\"]\n",
            &format!("targets = [\"prod\"]\n{pin}"),
        );
        let mut files = files(&pipeline);
        for (path, text) in &mut files {
            if path == "envs/prod/images.libsonnet" {
                *text = text.replace(&format!(", digest: 'sha256:{:064x}'", 0), "");
            }
        }
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let mut repo = MemoryRepository::new(&borrowed);
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .returning(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let status = status(&mut repo, &clock, None).unwrap();
        let prod = &status.waves[2];
        assert_eq!(prod.pin, word);
        assert_eq!(prod.digestless, vec![service("web")]);
        assert!(status.waves[0].digestless.is_empty());
        assert_eq!(status.waves[0].pin, Pin::Digest);
    }
}

#[test]
fn unknown_waves_targets_and_apps_are_answered_with_the_valid_names_and_the_nearest() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    let pushes = world.repo.pushes;
    let report = |target| DeployReport {
        target,
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let error = record_deployment(
        &mut world.repo,
        &world.clock,
        &report(target("staging-uss")),
        &world.options,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown target `staging-uss`: the pipeline file names no such target; the targets are staging-us, staging-eu, internal, prod; did you mean `staging-us`?"
    );
    let PromotionError::UnknownTarget { known, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(known.nearest(), Some("staging-us"));
    let error = record_deployment(
        &mut world.repo,
        &world.clock,
        &report(TargetSelector::App("cfg-staging-e".into())),
        &world.options,
    )
    .unwrap_err();
    assert!(
        error.to_string().ends_with(
            "the Argo CD applications are staging-us, cfg-staging-eu, internal, prod; did you mean `cfg-staging-eu`?"
        ),
        "{error}"
    );
    let error = promote(
        &mut world.repo,
        &world.clock,
        &wave("stagign"),
        &revision,
        &world.options,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("the waves are staging, internal, production; did you mean `staging`?"),
        "{error}"
    );
    let error = approve(
        &mut world.repo,
        &world.clock,
        &wave("prodution"),
        &admin(),
        &world.options,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown wave `prodution`: the pipeline file names no such wave; the waves are staging, internal, production; did you mean `production`?"
    );
    assert_eq!(world.repo.pushes, pushes);
}

#[test]
fn an_unknown_app_from_outside_is_shown_escaped() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    let report = DeployReport {
        target: TargetSelector::App("cfg\nfake line\u{202e}".into()),
        revision,
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    let text = error.to_string();
    assert!(
        !text.contains('\n')
            && !text.contains('\u{202e}')
            && text.contains("`cfg\\nfake line\\u{202e}`"),
        "{text}"
    );
}

#[test]
fn a_state_moved_back_to_an_older_genuine_document_is_not_acted_on_until_state_reset() {
    let mut world = World::keyed(PIPELINE);
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-eu", &revision, DeployStatus::Succeeded);
    let success = world.repo.remote_state().unwrap().commit.clone();
    world.report("staging-eu", &revision, DeployStatus::Failed);
    // Someone forces the state ref back to the genuine document that still says "succeeded".
    world.repo.person_rewinds_state(&success);
    let report = DeployReport {
        target: target("staging-us"),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    assert!(
        matches!(error, PromotionError::State(StateProblem::Rewound { .. })),
        "{error}"
    );
    assert_eq!(error.class(), crate::class::ErrorClass::Unavailable);
    assert!(
        error.to_string().contains("moved the state ref back")
            && error.to_string().contains("state reset"),
        "{error}"
    );
    assert_eq!(world.repo.remote_state().unwrap().commit, success);
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
    let seen = status(&mut world.repo, &world.clock, world.options.key.as_ref()).unwrap();
    assert!(
        seen.state
            .problem
            .unwrap()
            .contains("moved the state ref back"),
        "status says it"
    );
    // Publishing, whose protection lives in the state, is refused the same way, with build
    // information or without.
    let error = world.announce(2, &[("api", 2)], Some(1)).unwrap_err();
    assert_eq!(error.class(), crate::class::ErrorClass::Unavailable);
    let error = world.announce(3, &[("api", 3)], None).unwrap_err();
    assert_eq!(error.class(), crate::class::ErrorClass::Unavailable);
    // The timer's pass promotes nothing either.
    assert!(advance(&mut world.repo, &world.clock, &world.options).is_err());
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));

    reset_state(
        &mut world.repo,
        &world.clock,
        world.options.key.as_ref(),
        &world.options.retry,
    )
    .unwrap();
    // The fresh state has no reports: staging-us alone does not complete the wave.
    let outcome = world.report("staging-us", &revision, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Recorded { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
    // And the state from before the reset is older still.
    let reset = world.repo.remote_state().unwrap().commit.clone();
    world.repo.person_rewinds_state(&success);
    assert!(record_deployment(&mut world.repo, &world.clock, &report, &world.options).is_err());
    world.repo.person_rewinds_state(&reset);
    world.deploy_staging(&revision);
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

#[test]
fn a_fresh_cache_refuses_a_state_older_than_the_branch_records() {
    let mut world = World::keyed(PIPELINE);
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-eu", &revision, DeployStatus::Succeeded);
    let success = world.repo.remote_state().unwrap().commit.clone();
    world.report("staging-eu", &revision, DeployStatus::Failed);
    // A later publish records the state it was written with (the failure) in its sealed commit.
    let second = world.publish(2, &[("web", 2)]);
    let record = world.repo.remote_history()[0].1.clone();
    assert!(record.contains("Cfgupdate-State: "), "{record}");
    world.repo.person_rewinds_state(&success);
    world.repo.forget_cache();
    let report = DeployReport {
        target: target("staging-us"),
        revision: revision.clone(),
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    assert!(
        matches!(error, PromotionError::State(StateProblem::Rewound { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("records"), "{error}");
    // A forged trailer in a person's commit records nothing.
    world.repo.person_pushes(
        &format!("Edit\n\n{}: 99999999999999.5", state::STATE_TRAILER),
        |_| {},
    );
    reset_state(
        &mut world.repo,
        &world.clock,
        world.options.key.as_ref(),
        &world.options.retry,
    )
    .unwrap();
    world.repo.forget_cache();
    let outcome = world.report("staging-us", &second, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Recorded { .. }),
        "{outcome:?}"
    );
}

// --- Issue 12: reports that queued up together become one state update. ---

fn report_of(who: &str, revision: &CommitId, status: DeployStatus) -> DeployReport {
    DeployReport {
        target: target(who),
        revision: revision.clone(),
        status,
    }
}

#[test]
fn reports_queued_together_are_recorded_in_one_state_push_and_promote_once() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1), ("web", 1)]);
    let (pushes, branch_pushes) = (world.repo.pushes, world.repo.branch_pushes);
    let reports = [
        report_of("staging-us", &revision, DeployStatus::Succeeded),
        DeployReport {
            target: TargetSelector::App("cfg-staging-eu".into()),
            revision: revision.clone(),
            status: DeployStatus::Succeeded,
        },
    ];
    let answers = record_deployments(&mut world.repo, &world.clock, &reports, &world.options);
    let promoted: Vec<&CommitId> = answers
        .iter()
        .map(|answer| match answer {
            Ok(DeploymentOutcome::Promoted {
                commit, wave: into, ..
            }) => {
                assert_eq!(into.as_str(), "internal");
                commit
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(promoted[0], promoted[1], "one promotion answers both");
    assert_eq!(promoted[0], world.repo.remote_tip());
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
    // Both reports and the promotion in one push of the two refs, as for a single report.
    assert_eq!(world.repo.branch_pushes - branch_pushes, 1);
    assert_eq!(world.repo.pushes - pushes, 1);
    let state = world.state_json();
    assert_eq!(state["reports"]["staging-us"].as_array().unwrap().len(), 1);
    assert_eq!(state["reports"]["staging-eu"].as_array().unwrap().len(), 1);
}

#[test]
fn a_bad_report_in_a_batch_gets_its_own_error_and_the_others_are_recorded() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    let missing = CommitId::parse(&"f".repeat(40)).unwrap();
    let reports = [
        report_of("nope", &revision, DeployStatus::Succeeded),
        report_of("staging-us", &revision, DeployStatus::Succeeded),
        report_of("staging-us", &missing, DeployStatus::Succeeded),
        report_of("staging-eu", &revision, DeployStatus::Failed),
    ];
    let answers = record_deployments(&mut world.repo, &world.clock, &reports, &world.options);
    assert_eq!(answers.len(), 4);
    assert!(
        matches!(&answers[0], Err(PromotionError::UnknownTarget { target, .. }) if target == "nope"),
        "{:?}",
        answers[0]
    );
    assert!(
        matches!(&answers[2], Err(PromotionError::UnknownRevision { revision }) if revision == &missing),
        "{:?}",
        answers[2]
    );
    for answer in [&answers[1], &answers[3]] {
        let Ok(DeploymentOutcome::Recorded { reason }) = answer else {
            panic!("{answer:?}")
        };
        assert!(reason.contains("staging-eu"), "{reason}");
    }
    // The failed deployment is kept: it blocks the promotion until a later success.
    let state = world.state_json();
    assert_eq!(state["reports"]["staging-eu"][0]["status"], "failed");
    assert_eq!(state["reports"]["staging-us"].as_array().unwrap().len(), 1);
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
    let outcome = world.report("staging-eu", &revision, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
}

#[test]
fn when_the_state_push_of_a_batch_fails_no_report_is_recorded_and_each_gets_the_error() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    let before = world.repo.remote_state().cloned();
    world.repo.decline_state = Some("the state ref is protected".into());
    let reports = [
        report_of("staging-us", &revision, DeployStatus::Succeeded),
        report_of("nope", &revision, DeployStatus::Succeeded),
        report_of("staging-eu", &revision, DeployStatus::Succeeded),
    ];
    let answers = record_deployments(&mut world.repo, &world.clock, &reports, &world.options);
    assert!(
        matches!(&answers[1], Err(PromotionError::UnknownTarget { .. })),
        "{:?}",
        answers[1]
    );
    for answer in [&answers[0], &answers[2]] {
        let Err(error) = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(error.class(), crate::class::ErrorClass::Declined, "{error}");
    }
    assert_eq!(world.repo.remote_state().cloned(), before);
    assert_eq!(world.images("internal")[&service("api")], image("api", 0));
}

#[test]
fn reports_of_two_waves_in_one_batch_each_get_their_own_wave_s_answer() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    let DeploymentOutcome::Promoted {
        commit: promoted, ..
    } = world.deploy_staging(&first)
    else {
        panic!("staging did not promote")
    };
    let second = world.publish(2, &[("api", 2)]);
    let reports = [
        report_of("staging-us", &second, DeployStatus::Succeeded),
        report_of("internal", &promoted, DeployStatus::Succeeded),
    ];
    let answers = record_deployments(&mut world.repo, &world.clock, &reports, &world.options);
    let Ok(DeploymentOutcome::Recorded { reason }) = &answers[0] else {
        panic!("{:?}", answers[0])
    };
    assert!(reason.contains("staging-eu"), "{reason}");
    let Ok(DeploymentOutcome::Promoted { wave: into, .. }) = &answers[1] else {
        panic!("{:?}", answers[1])
    };
    assert_eq!(into.as_str(), "production");
    assert_eq!(world.images("production")[&service("api")], image("api", 1));
}

#[test]
fn a_report_of_a_revision_the_cache_holds_records_and_promotes_without_a_fetch() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    // The first report waits for staging-eu: "nothing to promote" is believed only after a
    // fetch, so this one fetches.
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    let fetches = world.repo.fetches;
    let outcome = world.report("staging-eu", &revision, DeployStatus::Succeeded);
    let DeploymentOutcome::Promoted { commit, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(&commit, world.repo.remote_tip());
    assert_eq!(world.repo.fetches, fetches, "the report fetched");
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

#[test]
fn a_report_from_a_cache_a_person_pushed_past_lands_on_top_of_the_person_s_commit() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    let person = world.repo.person_pushes("Edit the readme", |tree| {
        tree.insert(
            RepoPath::parse("README.md").unwrap(),
            b"Edited by a person.\n".to_vec(),
        );
    });
    let (fetches, rejections) = (world.repo.fetches, world.repo.rejections);
    let outcome = world.report("staging-eu", &revision, DeployStatus::Succeeded);
    assert!(
        matches!(outcome, DeploymentOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    // The stale cache was caught by the compare-and-swap, refetched, and the promotion
    // replayed on the person's commit, which stays.
    assert!(world.repo.rejections > rejections);
    assert!(world.repo.fetches > fetches);
    let history = world.repo.remote_history();
    assert_eq!(history[1].0, person);
    assert_eq!(
        world.repo.remote_text("README.md").as_deref(),
        Some("Edited by a person.\n")
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

#[test]
fn a_report_of_a_revision_only_the_remote_has_is_recorded_after_a_fetch() {
    let mut world = World::new();
    world.publish(1, &[("api", 1)]);
    let person = world.repo.person_pushes("Edit the readme", |tree| {
        tree.insert(
            RepoPath::parse("README.md").unwrap(),
            b"Edited by a person.\n".to_vec(),
        );
    });
    let fetches = world.repo.fetches;
    let outcome = world.report("staging-us", &person, DeployStatus::Succeeded);
    assert!(
        matches!(&outcome, DeploymentOutcome::Recorded { reason } if reason.contains("staging-eu")),
        "{outcome:?}"
    );
    assert!(world.repo.fetches > fetches);
}

#[test]
fn an_unknown_revision_is_refused_only_after_a_fetch() {
    let mut world = World::new();
    world.publish(1, &[("api", 1)]);
    let (fetches, pushes) = (world.repo.fetches, world.repo.pushes);
    let missing = CommitId::parse(&"e".repeat(40)).unwrap();
    let report = DeployReport {
        target: target("staging-us"),
        revision: missing,
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    assert!(
        matches!(error, PromotionError::UnknownRevision { .. }),
        "{error}"
    );
    assert_eq!(world.repo.fetches, fetches + 1);
    assert_eq!(world.repo.pushes, pushes);
}

#[test]
fn a_report_of_a_revision_a_person_force_pushed_away_promotes_nothing() {
    let mut world = World::new();
    let before = world.publish(1, &[("api", 1)]);
    let removed = world.publish(2, &[("api", 2)]);
    world.report("staging-us", &removed, DeployStatus::Succeeded);
    // A person rewinds the branch past the publish; the cache has not seen it.
    world.repo.person_force_pushes(&before);
    let tip = world.repo.remote_tip().clone();
    let report = DeployReport {
        target: target("staging-eu"),
        revision: removed.clone(),
        status: DeployStatus::Succeeded,
    };
    let error =
        record_deployment(&mut world.repo, &world.clock, &report, &world.options).unwrap_err();
    assert!(
        matches!(&error, PromotionError::UnknownRevision { revision } if revision == &removed),
        "{error}"
    );
    assert_eq!(world.repo.remote_tip(), &tip, "something was promoted");
    // Nor was the report of a revision no longer on the branch written to the state.
    assert!(
        world.state_json()["reports"]["staging-eu"].is_null(),
        "{}",
        world.state_json()
    );
}

use crate::repository::ConfigRepository as _;

/// Publishes one revision and has the first staging target report it: the second report of
/// that revision promotes.
fn one_report_from_promoting() -> (World, CommitId) {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    (world, revision)
}

fn promoted(outcome: DeploymentOutcome) -> CommitId {
    match outcome {
        DeploymentOutcome::Promoted {
            commit, wave: into, ..
        } => {
            assert_eq!(into.as_str(), "internal");
            commit
        }
        other => panic!("{other:?}"),
    }
}

fn reports_of(world: &World, target: &str) -> usize {
    world.state_json()["reports"][target]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_report_that_promotes_pushes_the_state_and_the_promotion_in_one_push() {
    let (mut world, revision) = one_report_from_promoting();
    let (pushes, branch_pushes, fetches) = (
        world.repo.pushes,
        world.repo.branch_pushes,
        world.repo.fetches,
    );
    let commit = promoted(world.report("staging-eu", &revision, DeployStatus::Succeeded));
    assert_eq!(world.repo.remote_tip(), &commit);
    assert_eq!(world.repo.pushes - pushes, 1, "one push of both refs");
    assert_eq!(world.repo.branch_pushes - branch_pushes, 1);
    assert_eq!(world.repo.fetches, fetches, "no fetch on a current cache");
    assert_eq!(reports_of(&world, "staging-eu"), 1);
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

#[test]
fn a_report_that_promotes_while_a_person_pushed_is_replayed_whole_on_the_new_tip() {
    let (mut world, revision) = one_report_from_promoting();
    let person = world.repo.person_pushes("Edit the readme", |tree| {
        tree.insert(
            RepoPath::parse("README.md").unwrap(),
            b"Edited by a person.\n".to_vec(),
        );
    });
    let state_before = world.repo.remote_state().unwrap().commit.clone();
    let pushes = world.repo.pushes;
    let commit = promoted(world.report("staging-eu", &revision, DeployStatus::Succeeded));
    assert_eq!(world.repo.remote_tip(), &commit);
    assert!(world.repo.is_ancestor(&person, &commit).unwrap());
    assert_eq!(
        world.repo.remote_text("README.md").as_deref(),
        Some("Edited by a person.\n")
    );
    // A rejected push of both refs, then one that landed: nothing half-done in between.
    assert_eq!(world.repo.pushes - pushes, 2);
    assert_eq!(world.repo.rejections, 1);
    assert_eq!(reports_of(&world, "staging-eu"), 1);
    assert_eq!(
        world.repo.remote_state().unwrap().parent.as_ref(),
        Some(&state_before),
        "one state commit for the report"
    );
}

#[test]
fn a_report_that_promotes_while_the_state_moved_is_replayed_on_the_newest_state() {
    let (mut world, revision) = one_report_from_promoting();
    let content = world.repo.remote_state().unwrap().content.clone();
    let moved = world.repo.person_pushes_state(&content);
    let (pushes, tip) = (world.repo.pushes, world.repo.remote_tip().clone());
    let commit = promoted(world.report("staging-eu", &revision, DeployStatus::Succeeded));
    assert_eq!(world.repo.pushes - pushes, 2);
    assert_eq!(world.repo.rejections, 1);
    assert_eq!(world.repo.is_ancestor(&tip, &commit), Ok(true));
    assert_eq!(
        world.repo.remote_state().unwrap().parent.as_ref(),
        Some(&moved)
    );
    assert_eq!(reports_of(&world, "staging-eu"), 1);
    assert_eq!(reports_of(&world, "staging-us"), 1);
}

#[test]
fn a_push_of_both_refs_where_only_the_state_landed_replays_the_promotion_alone() {
    let (mut world, revision) = one_report_from_promoting();
    world.repo.non_atomic = true;
    let person = world.repo.person_pushes("Edit the readme", |tree| {
        tree.insert(
            RepoPath::parse("README.md").unwrap(),
            b"Edited by a person.\n".to_vec(),
        );
    });
    let commit = promoted(world.report("staging-eu", &revision, DeployStatus::Succeeded));
    assert_eq!(world.repo.remote_tip(), &commit);
    assert!(world.repo.is_ancestor(&person, &commit).unwrap());
    assert_eq!(reports_of(&world, "staging-eu"), 1, "recorded once");
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

#[test]
fn a_push_of_both_refs_where_only_the_branch_landed_records_the_report_after() {
    let (mut world, revision) = one_report_from_promoting();
    world.repo.non_atomic = true;
    let content = world.repo.remote_state().unwrap().content.clone();
    let moved = world.repo.person_pushes_state(&content);
    let commit = promoted(world.report("staging-eu", &revision, DeployStatus::Succeeded));
    assert_eq!(world.repo.remote_tip(), &commit);
    assert_eq!(reports_of(&world, "staging-eu"), 1);
    assert_eq!(
        world.repo.remote_state().unwrap().parent.as_ref(),
        Some(&moved)
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
}

mod per_candidate;
