//! Strict mode over the in-memory repository: green, red, people's pushes, stale results.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::class::{Classify, ErrorClass};
use crate::intent::WriteOptions;
use crate::key::StateKey;
use crate::memory::MemoryRepository;
use crate::names::{CommitId, ServiceName, TargetName};
use crate::path::RepoPath;
use crate::promotion::{self, DeployReport, DeployStatus, DeploymentOutcome, TargetSelector};
use crate::publish::{Announcement, PublishError, PublishOutcome, publish};
use crate::reference::ImageRef;
use crate::repository::ConfigRepository;
use crate::slots::ImageSet;
use crate::testing::ManualClock;

const PIPELINE: &str = r#"[strict]
branch = "auto"

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]

[target.staging]
entrypoint = "staging.jsonnet"

[target.prod]
entrypoint = "prod.jsonnet"
"#;

fn app(images: &str) -> String {
    format!(
        "local i = import '{images}';\n{{ apiVersion: 'v1', kind: 'List', items: [{{ apiVersion: 'v1', kind: 'Pod', metadata: {{ name: s }}, spec: {{ containers: [{{ name: s, image: i[s] }}] }} }} for s in std.objectFields(i)] }}\n"
    )
}

fn reference(service: &str, n: u64) -> String {
    format!("reg.example.com/{service}:v{n}@sha256:{n:064x}")
}

fn image_file(api: u64, web: u64) -> String {
    format!(
        "{{\n  \"api\": \"{}\",\n  \"web\": \"{}\"\n}}\n",
        reference("api", api),
        reference("web", web)
    )
}

fn memory(pipeline: &str) -> MemoryRepository {
    MemoryRepository::new(&[
        ("cfgupdate.toml", pipeline),
        ("images/staging.json", &image_file(1, 1)),
        ("images/production.json", &image_file(1, 1)),
        ("staging.jsonnet", &app("images/staging.json")),
        ("prod.jsonnet", &app("images/production.json")),
    ])
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn options(key: bool) -> WriteOptions {
    WriteOptions {
        key: key.then(|| StateKey::new(b"a state key of the strict tests").unwrap()),
        ..WriteOptions::default()
    }
}

fn strict(key: bool) -> (Strict<MemoryRepository>, Arc<ManualClock>) {
    let clock = clock();
    (
        Strict::new(memory(PIPELINE), clock.clone(), options(key)),
        clock,
    )
}

fn announce<R: ConfigRepository>(repo: &mut Strict<R>, app: u8, service: &str, n: u64) -> CommitId {
    let announcement = announcement(app, service, n);
    let options = *repo.options();
    let clock = clock();
    match publish(repo, &*clock, &announcement, &options).unwrap() {
        PublishOutcome::Committed { commit, .. } => commit,
        other => panic!("not committed: {other:?}"),
    }
}

fn announcement(app: u8, service: &str, n: u64) -> Announcement {
    let images = ImageSet::from([(
        ServiceName::parse(service).unwrap(),
        ImageRef::parse(&reference(service, n)).unwrap(),
    )]);
    Announcement::new(
        CommitId::parse(&format!("{app:02x}").repeat(20)).unwrap(),
        images,
    )
    .unwrap()
}

fn check(
    repo: &mut Strict<MemoryRepository>,
    commit: &CommitId,
    state: CheckState,
) -> CheckOutcome {
    repo.record_check(&CheckReport {
        commit: commit.clone(),
        state,
        context: "ci/kubeconform".into(),
    })
    .unwrap()
}

fn main_text(repo: &Strict<MemoryRepository>, path: &str) -> String {
    repo.inner().remote_text(path).unwrap()
}

fn auto_text(repo: &Strict<MemoryRepository>, path: &str) -> String {
    let auto = repo.inner().remote_side("auto").unwrap().clone();
    repo.inner().text_at(&auto, path).unwrap()
}

#[test]
fn an_automatic_commit_waits_on_the_auto_branch_and_a_green_result_fast_forwards_main() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0xa1, "api", 2);
    assert_eq!(repo.inner().remote_tip(), &main, "main is not touched");
    assert_eq!(repo.inner().remote_side("auto"), Some(&commit));
    assert!(auto_text(&repo, "images/staging.json").contains(&reference("api", 2)));

    // pending is recorded and changes nothing
    assert_eq!(
        check(&mut repo, &commit, CheckState::Pending),
        CheckOutcome::Recorded
    );
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 1);
    assert_eq!(queue.changes[0].commit, commit);
    assert_eq!(queue.changes[0].action, "publish");
    assert_eq!(
        queue.changes[0].ci.as_ref().map(|c| c.state),
        Some(CheckState::Pending)
    );
    assert_eq!(repo.inner().remote_tip(), &main);

    let outcome = check(&mut repo, &commit, CheckState::Success);
    let CheckOutcome::Accepted {
        main: moved,
        changes,
    } = outcome
    else {
        panic!("not accepted: {outcome:?}");
    };
    assert_eq!(moved, commit);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        repo.inner().remote_tip(),
        &commit,
        "fast-forwarded, the same commit"
    );
    assert!(repo.queue().unwrap().unwrap().changes.is_empty());
    // The same green again, and a red for an accepted commit, change nothing.
    assert_eq!(
        check(&mut repo, &commit, CheckState::Success),
        CheckOutcome::Ignored(Ignored::Accepted)
    );
    assert_eq!(
        check(&mut repo, &commit, CheckState::Failure),
        CheckOutcome::Ignored(Ignored::Accepted)
    );
}

#[test]
fn a_red_result_evicts_its_change_and_the_later_ones_are_replayed_and_accepted() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let bad = announce(&mut repo, 0xb1, "api", 2);
    let good = announce(&mut repo, 0xb2, "web", 3);
    assert_eq!(repo.queue().unwrap().unwrap().changes.len(), 2);

    let outcome = check(&mut repo, &bad, CheckState::Failure);
    let CheckOutcome::Evicted {
        eviction,
        auto,
        dropped,
    } = outcome
    else {
        panic!("not evicted: {outcome:?}");
    };
    assert_eq!(eviction.commit, bad);
    assert_eq!(eviction.kind, EvictionKind::Failed);
    assert_eq!(eviction.action, "publish");
    assert!(
        eviction.reason.contains("ci/kubeconform"),
        "{}",
        eviction.reason
    );
    assert!(dropped.is_empty());
    assert_eq!(repo.inner().remote_tip(), &main, "main untouched");
    // The auto branch: main plus the good change alone, replayed (a new commit).
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 1);
    let replayed = queue.changes[0].commit.clone();
    assert_eq!(replayed, auto);
    assert_ne!(replayed, good);
    assert_eq!(queue.evicted.len(), 1, "reported in status");
    let staging = auto_text(&repo, "images/staging.json");
    assert!(staging.contains(&reference("web", 3)));
    assert!(staging.contains(&reference("api", 1)), "{staging}");

    // A stale green for the commit that is no longer on auto changes nothing.
    assert_eq!(
        check(&mut repo, &good, CheckState::Success),
        CheckOutcome::Ignored(Ignored::NotPending)
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    // The red again changes nothing, and is not reported again.
    assert_eq!(
        check(&mut repo, &bad, CheckState::Failure),
        CheckOutcome::Ignored(Ignored::Evicted)
    );

    let outcome = check(&mut repo, &replayed, CheckState::Success);
    assert!(
        matches!(outcome, CheckOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &replayed);
    let staging = main_text(&repo, "images/staging.json");
    assert!(staging.contains(&reference("web", 3)) && staging.contains(&reference("api", 1)));

    // The evicted announcement stays evicted: its replay is refused.
    let options = *repo.options();
    let error = publish(
        &mut repo,
        &*clock(),
        &announcement(0xb1, "api", 2),
        &options,
    )
    .unwrap_err();
    assert!(matches!(error, PublishError::Evicted { .. }), "{error}");
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(error.to_string().contains("stays evicted"), "{error}");
}

#[test]
fn a_persons_push_to_main_while_changes_wait_loses_nothing_on_either_side() {
    let (mut repo, _) = strict(true);
    let first = announce(&mut repo, 0xc1, "api", 2);
    let _second = announce(&mut repo, 0xc2, "web", 2);
    let person = repo
        .inner_mut()
        .person_pushes("A person edits production", |tree| {
            tree.insert(
                RepoPath::parse("images/production.json").unwrap(),
                image_file(5, 5).into_bytes(),
            );
            tree.insert(RepoPath::parse("README.md").unwrap(), b"by hand\n".to_vec());
        });
    // Any fetch rebuilds the auto branch on the new main.
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.main, person);
    assert_eq!(queue.changes.len(), 2, "both changes still wait");
    assert!(queue.evicted.is_empty());
    assert!(
        repo.is_ancestor(&person, queue.auto.as_ref().unwrap())
            .unwrap()
    );
    assert_eq!(auto_text(&repo, "README.md"), "by hand\n");
    assert_eq!(auto_text(&repo, "images/production.json"), image_file(5, 5));
    let staging = auto_text(&repo, "images/staging.json");
    assert!(staging.contains(&reference("api", 2)) && staging.contains(&reference("web", 2)));
    // The green that came for the old commit is stale.
    assert_eq!(
        check(&mut repo, &first, CheckState::Success),
        CheckOutcome::Ignored(Ignored::NotPending)
    );
    assert_eq!(repo.inner().remote_tip(), &person);
    let tip = queue.changes[1].commit.clone();
    assert!(matches!(
        check(&mut repo, &tip, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    assert_eq!(main_text(&repo, "README.md"), "by hand\n");
    assert_eq!(main_text(&repo, "images/production.json"), image_file(5, 5));
}

#[test]
fn a_change_a_person_made_moot_is_dropped_with_a_reason_and_reported_once() {
    let (mut repo, _) = strict(true);
    announce(&mut repo, 0xd1, "api", 2);
    announce(&mut repo, 0xd2, "web", 2);
    // A person sets api in staging themselves.
    repo.inner_mut().person_pushes("Pin api by hand", |tree| {
        tree.insert(
            RepoPath::parse("images/staging.json").unwrap(),
            image_file(7, 1).into_bytes(),
        );
    });
    repo.refresh().unwrap();
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 1);
    assert_eq!(queue.changes[0].action, "publish");
    assert_eq!(queue.evicted.len(), 1);
    let dropped = &queue.evicted[0];
    assert_eq!(dropped.kind, EvictionKind::Dropped);
    assert!(
        dropped.reason.contains("a person set api"),
        "{}",
        dropped.reason
    );
    let staging = auto_text(&repo, "images/staging.json");
    assert!(
        staging.contains(&reference("api", 7)),
        "the person's image stays: {staging}"
    );
    assert!(staging.contains(&reference("web", 2)));
    // Fetching again reports nothing new.
    repo.refresh().unwrap();
    assert_eq!(repo.queue().unwrap().unwrap().evicted.len(), 1);
}

#[test]
fn promotion_decides_on_main_and_its_commit_goes_through_auto_and_ci() {
    let (mut repo, clock) = strict(true);
    let options = *repo.options();
    let commit = announce(&mut repo, 0xe1, "api", 2);
    check(&mut repo, &commit, CheckState::Success);
    let report = DeployReport {
        target: TargetSelector::Name(TargetName::parse("staging").unwrap()),
        revision: commit.clone(),
        status: DeployStatus::Succeeded,
    };
    let outcome = promotion::record_deployment(&mut repo, &*clock, &report, &options).unwrap();
    let DeploymentOutcome::Promoted {
        commit: promoted, ..
    } = outcome
    else {
        panic!("not promoted: {outcome:?}");
    };
    assert_eq!(
        repo.inner().remote_tip(),
        &commit,
        "the promotion waits on auto"
    );
    assert_eq!(repo.inner().remote_side("auto"), Some(&promoted));
    assert!(auto_text(&repo, "images/production.json").contains(&reference("api", 2)));
    assert!(matches!(
        check(&mut repo, &promoted, CheckState::Success),
        CheckOutcome::Accepted { .. }
    ));
    assert!(main_text(&repo, "images/production.json").contains(&reference("api", 2)));
}

#[test]
fn without_a_strict_table_everything_passes_through_and_ci_results_are_ignored() {
    let pipeline = PIPELINE.replace("[strict]\nbranch = \"auto\"\n", "");
    let mut repo = Strict::new(memory(&pipeline), clock(), options(false));
    let commit = announce(&mut repo, 0xf1, "api", 2);
    assert_eq!(repo.inner().remote_tip(), &commit);
    assert_eq!(repo.inner().remote_side("auto"), None);
    assert_eq!(repo.queue().unwrap(), None);
    assert_eq!(
        check(&mut repo, &commit, CheckState::Success),
        CheckOutcome::Ignored(Ignored::NotStrict)
    );
}

#[test]
fn a_result_for_a_commit_the_repository_does_not_have_is_invalid() {
    let (mut repo, _) = strict(false);
    let error = repo
        .record_check(&CheckReport {
            commit: CommitId::parse(&"9".repeat(40)).unwrap(),
            state: CheckState::Success,
            context: String::new(),
        })
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid);
    assert!(error.to_string().contains("9999999"), "{error}");
}

#[test]
fn an_accepted_commit_whose_fast_forward_was_lost_is_rolled_forward_by_the_next_fetch() {
    let (mut repo, _) = strict(false);
    let commit = announce(&mut repo, 0x11, "api", 2);
    let main = repo.inner().remote_tip().clone();
    // The process recorded the decision and stopped before moving main.
    repo.update_record("Accept", |r| {
        r.accepted = Some(commit.clone());
        true
    })
    .unwrap();
    assert_eq!(repo.inner().remote_tip(), &main);
    repo.refresh().unwrap();
    assert_eq!(repo.inner().remote_tip(), &commit);
}

#[test]
fn a_red_result_recorded_by_another_replica_first_makes_a_later_green_stale() {
    let (mut repo, _) = strict(false);
    let bad = announce(&mut repo, 0x21, "api", 2);
    let later = announce(&mut repo, 0x22, "web", 2);
    let main = repo.inner().remote_tip().clone();
    // Another replica recorded the eviction of `bad` but stopped before rebuilding auto.
    let eviction = {
        let log = repo.log(&bad, 1).unwrap();
        Eviction::of(
            &bad,
            &log[0].message,
            EvictionKind::Failed,
            "CI failed".into(),
            1,
        )
    };
    repo.update_record("Evict", |r| r.add_eviction(eviction.clone()))
        .unwrap();
    // A green for the later commit (built on `bad`) must not reach main.
    assert_eq!(
        check(&mut repo, &later, CheckState::Success),
        CheckOutcome::Ignored(Ignored::NotPending)
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    assert_eq!(repo.queue().unwrap().unwrap().changes.len(), 1);
}

// The fixes of review (docs/strict.md), each with the scenario that showed the gap.
mod contexts;
mod depth;
mod gates;
mod trust;
// A green result decides without a fetch when this process knows the change is waiting.
mod latency;
