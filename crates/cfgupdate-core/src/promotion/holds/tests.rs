//! The rules of holds: a rollback holds what it wrote, a person's edit pins, automation leaves
//! both alone (skipping them, or refusing when that is all that was asked), `release` lifts
//! them, and bad input changes nothing.

use super::*;
use crate::class::{Classify, ErrorClass};
use crate::memory::PERSON;
use crate::path::RepoPath;
use crate::promotion::tests::{World, image, service, set, wave};
use crate::promotion::{DeploymentOutcome, PromoteOutcome, promote, status};
use crate::publish::{PublishError, PublishOutcome};

fn rollback_request(into: &str, to: &CommitId, services: &[&str]) -> RollbackRequest {
    RollbackRequest {
        wave: wave(into),
        to_revision: to.clone(),
        services: services.iter().map(|s| service(s)).collect(),
    }
}

impl World {
    fn rollback(&mut self, request: &RollbackRequest) -> Result<RollbackOutcome, HoldError> {
        rollback(&mut self.repo, &self.clock, request, &self.options)
    }

    fn release(&mut self, into: &str, services: &[&str]) -> Result<ReleaseOutcome, HoldError> {
        let services: Vec<ServiceName> = services.iter().map(|s| service(s)).collect();
        release(
            &mut self.repo,
            &self.clock,
            &wave(into),
            &services,
            &self.options,
        )
    }

    fn held(&mut self, name: &str) -> Vec<crate::promotion::HeldService> {
        let status = status(&mut self.repo, &self.clock, self.options.key.as_ref()).unwrap();
        status
            .waves
            .into_iter()
            .find(|w| w.name.as_str() == name)
            .unwrap()
            .held
    }

    /// A person sets `service`'s image in the staging image file to version `n`.
    fn person_edits_staging(&mut self, service: &str, n: u64, message: &str) -> CommitId {
        let from = image(service, 0).to_string();
        let to = image(service, n).to_string();
        let service = service.to_owned();
        self.repo.person_pushes(message, move |tree| {
            let path = RepoPath::parse("images/staging.json").unwrap();
            let text = String::from_utf8(tree[&path].clone()).unwrap();
            let current = text
                .lines()
                .find(|line| line.contains(&format!("\"{service}\"")))
                .and_then(|line| line.split('"').nth(3))
                .unwrap_or(&from)
                .to_owned();
            tree.insert(path, text.replace(&current, &to).into_bytes());
        })
    }
}

#[test]
fn a_rollback_is_not_undone_by_the_next_promotion_until_it_is_released() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1), ("web", 1)]);
    world.deploy_staging(&first);
    let internal_at_v1 = world.repo.remote_tip().clone();
    let second = world.publish(2, &[("api", 2), ("web", 2)]);
    world.deploy_staging(&second);
    assert_eq!(world.images("internal")[&service("api")], image("api", 2));

    let outcome = world
        .rollback(&rollback_request("internal", &internal_at_v1, &["api"]))
        .unwrap();
    let RollbackOutcome::RolledBack { commit, held, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(held, &vec![service("api")]);
    assert_eq!(commit, world.repo.remote_tip());
    assert_eq!(outcome.landed().map(|(_, a)| a), Some(Action::Rollback));
    let record = world.last_record();
    assert_eq!(record.action.as_deref(), Some("rollback"));
    assert_eq!(record.wave, Some(wave("internal")));
    assert_eq!(record.images, set(&[("api", 1)]));
    let internal = world.images("internal");
    assert_eq!(internal[&service("api")], image("api", 1));
    assert_eq!(internal[&service("web")], image("web", 2));
    let held = world.held("internal");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].service, service("api"));
    assert_eq!(held[0].rollback_commit.as_ref(), Some(commit));
    assert!(
        matches!(&held[0].hold, Hold::Rollback { to_revision, .. } if to_revision == &internal_at_v1)
    );

    // The next promotion writes web and leaves api where the rollback put it.
    let third = world.publish(3, &[("api", 3), ("web", 3)]);
    let promoted = world.deploy_staging(&third);
    assert!(
        matches!(promoted, DeploymentOutcome::Promoted { .. }),
        "{promoted:?}"
    );
    let internal = world.images("internal");
    assert_eq!(internal[&service("api")], image("api", 1));
    assert_eq!(internal[&service("web")], image("web", 3));
    assert!(
        world.repo.remote_history()[0].1.contains(
            "Left as they are in internal until `cfgupdate release`: `api` (rolled back to"
        ),
        "{}",
        world.repo.remote_history()[0].1
    );

    let released = world.release("internal", &[]).unwrap();
    assert_eq!(released.released.len(), 1);
    assert_eq!(released.released[0].0, service("api"));
    assert!(world.held("internal").is_empty());
    let fourth = world.publish(4, &[("api", 4)]);
    world.deploy_staging(&fourth);
    assert_eq!(world.images("internal")[&service("api")], image("api", 4));
}

#[test]
fn a_rollback_to_what_the_wave_holds_holds_without_a_commit() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&first);
    let commits = world.commits();
    let tip = world.repo.remote_tip().clone();
    let outcome = world
        .rollback(&rollback_request("internal", &tip, &["api", "web"]))
        .unwrap();
    assert_eq!(
        outcome,
        RollbackOutcome::Unchanged {
            wave: wave("internal"),
            held: vec![service("api"), service("web")],
        }
    );
    assert_eq!(world.commits(), commits);
    assert_eq!(world.held("internal").len(), 2);
}

#[test]
fn a_person_s_edit_pins_the_service_until_release() {
    let mut world = World::new();
    world.publish(1, &[("api", 1), ("web", 1)]);
    let edit = world.person_edits_staging("api", 9, "Pin api in staging by hand");
    let held = world.held("staging");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].service, service("api"));
    assert!(
        matches!(&held[0].hold, Hold::Edit { commit, author, .. } if commit == &edit && author == PERSON),
        "{:?}",
        held[0]
    );
    assert!(held[0].describe(&wave("staging")).contains(PERSON));

    // Publishing api and web writes web and reports api skipped.
    let outcome = world.announce(2, &[("api", 2), ("web", 2)], None).unwrap();
    let PublishOutcome::Committed { skipped, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(skipped, &vec![service("api")]);
    let staging = world.images("staging");
    assert_eq!(staging[&service("api")], image("api", 9));
    assert_eq!(staging[&service("web")], image("web", 2));
    let record = world.last_record();
    assert_eq!(record.images, set(&[("web", 2)]));

    // Publishing api alone is refused, nothing written.
    let commits = world.commits();
    let error = world.announce(3, &[("api", 3)], None).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(
        matches!(&error, PublishError::OnHold(HeldBack { wave: w, .. }) if w.as_str() == "staging")
    );
    assert!(error.to_string().contains(edit.short()), "{error}");
    assert_eq!(world.commits(), commits);

    // Release only what is held; then api is published again.
    let error = world.release("staging", &["web"]).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid);
    assert!(error.to_string().contains("`web` is not held"), "{error}");
    world.release("staging", &["api"]).unwrap();
    assert!(world.held("staging").is_empty());
    world.publish(4, &[("api", 4)]);
    assert_eq!(world.images("staging")[&service("api")], image("api", 4));
}

#[test]
fn the_commits_that_set_a_pipeline_up_pin_nothing() {
    let mut world = World::new();
    world.person_edits_staging("api", 5, "Set up api by hand");
    world.person_edits_staging("web", 5, "Set up web by hand");
    let outcome = world.announce(1, &[("api", 1), ("web", 1)], None).unwrap();
    assert!(
        matches!(&outcome, PublishOutcome::Committed { skipped, .. } if skipped.is_empty()),
        "{outcome:?}"
    );
    assert!(world.held("staging").is_empty());
}

#[test]
fn a_person_s_edit_of_other_lines_of_a_wave_file_pins_nothing() {
    let mut world = World::new();
    world.publish(1, &[("api", 1)]);
    world
        .repo
        .person_pushes("Reformat the staging images", |tree| {
            let path = RepoPath::parse("images/staging.json").unwrap();
            let text = String::from_utf8(tree[&path].clone()).unwrap();
            tree.insert(path, text.replace("{\n", "{\n\n").into_bytes());
        });
    assert!(world.held("staging").is_empty());
    world.publish(2, &[("api", 2)]);
}

#[test]
fn promote_refuses_when_everything_asked_for_is_held() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1), ("web", 1)]);
    world.deploy_staging(&first);
    let tip = world.repo.remote_tip().clone();
    world
        .rollback(&rollback_request("internal", &tip, &[]))
        .unwrap();
    let second = world.publish(2, &[("api", 2), ("web", 2)]);
    let commits = world.commits();
    let error = promote(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &second,
        &world.options,
    )
    .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(matches!(error, PromotionError::OnHold(_)), "{error}");
    assert_eq!(world.commits(), commits);
    // The automatic step says why it waits, and writes nothing either.
    let outcome = world.deploy_staging(&second);
    assert!(
        matches!(&outcome, DeploymentOutcome::Recorded { reason } if reason.contains("held")),
        "{outcome:?}"
    );
    assert_eq!(world.images("internal")[&service("api")], image("api", 1));
    // Releasing one lets a manual promotion write it, and name the other skipped.
    world.release("internal", &["web"]).unwrap();
    let outcome = promote(
        &mut world.repo,
        &world.clock,
        &wave("staging"),
        &second,
        &world.options,
    )
    .unwrap();
    assert!(
        matches!(&outcome, PromoteOutcome::Promoted { skipped, .. } if skipped == &vec![service("api")]),
        "{outcome:?}"
    );
    let internal = world.images("internal");
    assert_eq!(internal[&service("web")], image("web", 2));
    assert_eq!(internal[&service("api")], image("api", 1));
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let mut world = World::new();
    let first = world.publish(1, &[("api", 1)]);
    world.deploy_staging(&first);
    let commits = world.commits();
    let state = world.repo.remote_state().cloned();

    let error = world
        .rollback(&rollback_request("internl", &first, &[]))
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid);
    assert!(
        error.to_string().contains("unknown wave `internl`"),
        "{error}"
    );
    assert!(error.to_string().contains("internal"), "{error}");

    let elsewhere = CommitId::parse(&"e".repeat(40)).unwrap();
    let error = world
        .rollback(&rollback_request("internal", &elsewhere, &[]))
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid);
    assert!(error.to_string().contains(&"e".repeat(40)), "{error}");

    let error = world
        .rollback(&rollback_request("internal", &first, &["apj"]))
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Invalid);
    let text = error.to_string();
    assert!(
        text.contains("unknown service `apj`") && text.contains("`api`"),
        "{text}"
    );

    // `hold` in the pipeline file: a rollback leaves billing alone in internal.
    let error = world
        .rollback(&rollback_request("internal", &first, &["billing"]))
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Refused);
    assert!(
        error
            .to_string()
            .contains("`billing` is on hold in wave `internal`"),
        "{error}"
    );

    let error = world.release("production", &[]).unwrap_err();
    assert!(matches!(error, HoldError::NothingHeld { .. }), "{error}");
    assert!(error.to_string().contains("production"), "{error}");
    let error = world.release("prod", &[]).unwrap_err();
    assert!(error.to_string().contains("unknown wave `prod`"), "{error}");

    assert_eq!(world.commits(), commits);
    assert_eq!(world.repo.remote_state().cloned(), state);
}

#[test]
fn with_a_key_an_unsealed_commit_in_cfgupdate_s_name_pins_and_holds_are_authenticated() {
    let mut world = World::keyed(crate::promotion::tests::PIPELINE);
    world.announce(1, &[("api", 1)], None).unwrap();
    // Looks like cfgupdate's publish, but is not sealed: a person's edit.
    let forged = world.repo.person_pushes(
        "Publish api\n\nCfgupdate-Action: publish\nCfgupdate-Wave: staging",
        |tree| {
            let path = RepoPath::parse("images/staging.json").unwrap();
            let text = String::from_utf8(tree[&path].clone()).unwrap();
            let text = text.replace(&image("api", 1).to_string(), image("api", 7).as_str());
            tree.insert(path, text.into_bytes());
        },
    );
    let held = world.held("staging");
    assert!(
        matches!(&held[..], [h] if matches!(&h.hold, Hold::Edit { commit, .. } if commit == &forged)),
        "{held:?}"
    );
    let error = world.announce(2, &[("api", 2)], None).unwrap_err();
    assert_eq!(error.class(), ErrorClass::Refused);
    // The hold is in the authenticated state once written (a release writes it).
    world.release("staging", &[]).unwrap();
    let document: serde_json::Value =
        serde_json::from_slice(&world.repo.remote_state().unwrap().content).unwrap();
    assert_eq!(document["version"], crate::promotion::state::STATE_VERSION);
    assert!(document["mac"].is_string());
    assert!(document["holds"]["tip"].is_string(), "{document}");
    world.announce(2, &[("api", 2)], None).unwrap();
}
