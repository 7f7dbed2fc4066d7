//! Approvals are per candidate (docs/promotion.md, "Approvals"): `approve --revision` approves
//! only the candidate that waits, the newest approval counts, and an approval lapses when the
//! wave promoted from deploys another set.

use super::*;

/// Production needs approval and a soak, so an approval can be given while the soak runs.
fn gated_pipeline() -> String {
    PIPELINE.replace(
        "targets = [\"prod\"]",
        "targets = [\"prod\"]\napproval = true\nsoak = \"10m\"",
    )
}

fn approval_only() -> String {
    PIPELINE.replace(
        "targets = [\"prod\"]",
        "targets = [\"prod\"]\napproval = true",
    )
}

/// Publishes `api` version `n` as app commit `app`, has staging deploy it (which promotes it
/// into internal), and has internal deploy that: the candidate for production.
fn candidate(world: &mut World, app: u64, n: u64) -> CommitId {
    let revision = world.publish(app, &[("api", n)]);
    world.deploy_staging(&revision);
    let internal = world.repo.remote_tip().clone();
    world.report("internal", &internal, DeployStatus::Succeeded);
    internal
}

fn approve_at(
    world: &mut World,
    revision: Option<&CommitId>,
    by: &str,
) -> Result<ApprovalOutcome, PromotionError> {
    approve_candidate(
        &mut world.repo,
        &world.clock,
        &wave("production"),
        revision,
        &Approver::parse(by).unwrap(),
        &world.options,
    )
}

fn production_step(world: &mut World) -> TransitionStatus {
    let status = status(&mut world.repo, &world.clock, None).unwrap();
    status.waves[1].promotion.clone().unwrap()
}

#[test]
fn approving_a_revision_that_is_not_the_waiting_candidate_is_refused_naming_both() {
    let mut world = World::with_pipeline(&approval_only());
    let first = candidate(&mut world, 1, 1);
    let second = candidate(&mut world, 2, 2);
    let step = production_step(&mut world);
    assert_eq!(step.source_revision.as_ref(), Some(&second));
    assert_eq!(
        step.wait,
        Some(Wait::Approval {
            into: wave("production"),
            revision: second.clone()
        })
    );
    let pushes = world.repo.pushes;
    let error = approve_at(&mut world, Some(&first), "alice").unwrap_err();
    let PromotionError::NotPending { asked, pending, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!((asked, pending.as_ref()), (&first, Some(&second)));
    assert_eq!(error.class(), crate::class::ErrorClass::Stale);
    let sentence = error.to_string();
    assert!(
        sentence.contains(first.as_str()) && sentence.contains(second.as_str()),
        "{sentence}"
    );
    // Nothing was recorded: no approval, no commit.
    assert_eq!(world.repo.pushes, pushes);
    assert_eq!(production_step(&mut world).state, StepState::Waiting);

    // The waiting one goes through, named by the approver.
    let outcome = approve_at(&mut world, Some(&second), "alice").unwrap();
    assert!(
        matches!(outcome, ApprovalOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    assert_eq!(world.last_record().approved_by.as_deref(), Some("alice"));
    assert_eq!(world.images("production")[&service("api")], image("api", 2));

    // Asked again once it went through (a retry): nothing to do, not an error.
    let again = approve_at(&mut world, Some(&second), "alice").unwrap();
    assert!(
        matches!(again, ApprovalOutcome::Unchanged { .. }),
        "{again:?}"
    );
    // Asked for a revision that never waited: refused, saying nothing waits.
    let error = approve_at(&mut world, Some(&first), "alice").unwrap_err();
    assert!(
        matches!(&error, PromotionError::NotPending { pending: None, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("nothing waits"), "{error}");
}

#[test]
fn an_approval_lapses_when_the_source_wave_deploys_another_set_in_between() {
    let mut world = World::with_pipeline(&gated_pipeline());
    let x = candidate(&mut world, 1, 1);
    // Approved while the soak runs: recorded, still waiting.
    let outcome = approve_at(&mut world, Some(&x), "alice").unwrap();
    assert!(
        matches!(
            outcome,
            ApprovalOutcome::Approved {
                waiting: Gate::Soak { .. }
            }
        ),
        "{outcome:?}"
    );
    // Internal deploys another set (Y), then X again.
    world.pass(Duration::from_secs(60));
    let y = candidate(&mut world, 2, 2);
    assert_ne!(y, x);
    world.pass(Duration::from_secs(60));
    let x_again = candidate(&mut world, 3, 1);
    // The soak of X again passes: X's old approval lapsed when Y was deployed.
    world.pass(Duration::from_secs(700));
    let advanced = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert!(advanced.promoted.is_empty(), "{advanced:?}");
    let step = production_step(&mut world);
    assert_eq!(
        step.wait,
        Some(Wait::Approval {
            into: wave("production"),
            revision: x_again.clone()
        }),
        "{step:?}"
    );
    // A new approval of the same images lets them through, named by the new approver.
    let outcome = approve_at(&mut world, Some(&x_again), "bob").unwrap();
    assert!(
        matches!(outcome, ApprovalOutcome::Promoted { .. }),
        "{outcome:?}"
    );
    let record = world.last_record();
    assert_eq!(record.approved_by.as_deref(), Some("bob"));
    assert_eq!(record.images[&service("api")], image("api", 1));
}

#[test]
fn an_approval_given_during_the_soak_is_used_by_advance_and_survives_repeated_hooks() {
    let mut world = World::with_pipeline(&gated_pipeline());
    let x = candidate(&mut world, 1, 1);
    approve_at(&mut world, None, "carol").unwrap();
    // A PostSync hook fires again at the same revision: the same set, the approval stands.
    world.pass(Duration::from_secs(120));
    world.report("internal", &x, DeployStatus::Succeeded);
    let early = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert!(early.promoted.is_empty());
    let step = production_step(&mut world);
    let Some(Wait::Soak {
        ends_at: Some(_),
        left: Some(left),
        ..
    }) = step.wait
    else {
        panic!("{step:?}")
    };
    assert_eq!(left, Duration::from_secs(480));
    world.pass(Duration::from_secs(480));
    let due = advance(&mut world.repo, &world.clock, &world.options).unwrap();
    assert_eq!(due.promoted.len(), 1, "{due:?}");
    let record = world.last_record();
    assert_eq!(record.approved_by.as_deref(), Some("carol"));
    assert_eq!(record.source_revision.as_ref(), Some(&x));
}

#[test]
fn a_failed_report_is_a_wait_naming_the_target_and_revision() {
    let mut world = World::new();
    let revision = world.publish(1, &[("api", 1)]);
    world.report("staging-us", &revision, DeployStatus::Succeeded);
    world.report("staging-eu", &revision, DeployStatus::Failed);
    let status = status(&mut world.repo, &world.clock, None).unwrap();
    let step = status.waves[0].promotion.as_ref().unwrap();
    assert_eq!(step.state, StepState::Blocked);
    let Some(wait @ Wait::FailedReport { .. }) = &step.wait else {
        panic!("{step:?}")
    };
    let sentence = wait.sentence();
    assert!(
        sentence.contains("`staging-eu`") && sentence.contains(revision.as_str()),
        "{sentence}"
    );
}
