//! Several CI checks report on one commit: a `success` accepts it only when no other check of
//! it is pending, failed or errored, and with `[strict] contexts` only when every named check
//! passed (the others are recorded and never decide).

use super::*;

fn report<R: ConfigRepository>(
    repo: &mut Strict<R>,
    commit: &CommitId,
    state: CheckState,
    context: &str,
) -> CheckOutcome {
    repo.record_check(&CheckReport {
        commit: commit.clone(),
        state,
        context: context.into(),
    })
    .unwrap()
}

fn with_contexts(contexts: &str) -> Strict<MemoryRepository> {
    let pipeline = PIPELINE.replace(
        "branch = \"auto\"\n",
        &format!("branch = \"auto\"\ncontexts = {contexts}\n"),
    );
    Strict::new(memory(&pipeline), clock(), options(true))
}

#[test]
fn a_success_waits_while_another_check_of_the_commit_is_pending_or_errored() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0x31, "api", 2);
    assert_eq!(
        report(&mut repo, &commit, CheckState::Pending, "kubeconform"),
        CheckOutcome::Recorded
    );
    // One check passed, the other still runs: nothing moves.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "policy"),
        CheckOutcome::Recorded
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    // GitHub's `error` (the check could not run) is no verdict either way.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Error, "kubeconform"),
        CheckOutcome::Recorded
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    assert_eq!(
        repo.queue().unwrap().unwrap().changes.len(),
        1,
        "not evicted"
    );
    let record = repo.record(&main);
    let checks = record.checks_of(&commit);
    assert_eq!(checks["kubeconform"].state, CheckState::Error);
    assert_eq!(checks["policy"].state, CheckState::Success);
    // The last check passes: now the commit is accepted.
    let outcome = report(&mut repo, &commit, CheckState::Success, "kubeconform");
    assert!(
        matches!(outcome, CheckOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &commit);
}

#[test]
fn a_failure_of_any_check_evicts_even_after_another_passed() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0x32, "api", 2);
    report(&mut repo, &commit, CheckState::Pending, "kubeconform");
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "policy"),
        CheckOutcome::Recorded
    );
    let outcome = report(&mut repo, &commit, CheckState::Failure, "kubeconform");
    assert!(
        matches!(outcome, CheckOutcome::Evicted { .. }),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &main);
}

#[test]
fn with_contexts_every_named_check_must_pass_and_the_others_never_decide() {
    let mut repo = with_contexts("[\"kubeconform\", \"policy\"]");
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0x33, "api", 2);
    // A named check passes, the other named one has said nothing yet.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "kubeconform"),
        CheckOutcome::Recorded
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    // A check the list does not name fails, or stays pending: recorded, and it decides nothing.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Failure, "lint"),
        CheckOutcome::Recorded
    );
    assert_eq!(
        report(&mut repo, &commit, CheckState::Pending, "docs"),
        CheckOutcome::Recorded
    );
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 1, "not evicted");
    assert!(queue.evicted.is_empty());
    assert_eq!(
        repo.record(&main).checks_of(&commit)["lint"].state,
        CheckState::Failure,
        "recorded for status"
    );
    // An unnamed check's success accepts nothing either.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "docs"),
        CheckOutcome::Recorded
    );
    let outcome = report(&mut repo, &commit, CheckState::Success, "policy");
    assert!(
        matches!(outcome, CheckOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &commit);
}

#[test]
fn with_contexts_a_named_check_that_fails_evicts() {
    let mut repo = with_contexts("[\"kubeconform\"]");
    let commit = announce(&mut repo, 0x34, "api", 2);
    let outcome = report(&mut repo, &commit, CheckState::Failure, "kubeconform");
    let CheckOutcome::Evicted { eviction, .. } = outcome else {
        panic!("not evicted: {outcome:?}");
    };
    assert!(
        eviction.reason.contains("kubeconform"),
        "{}",
        eviction.reason
    );
}

#[test]
fn a_checks_newest_result_replaces_its_earlier_one() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0x35, "api", 2);
    report(&mut repo, &commit, CheckState::Pending, "kubeconform");
    report(&mut repo, &commit, CheckState::Pending, "policy");
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "kubeconform"),
        CheckOutcome::Recorded
    );
    let record = repo.record(&main);
    assert_eq!(
        record.checks.iter().filter(|c| c.commit == commit).count(),
        2,
        "one result per check: {:?}",
        record.checks
    );
    assert_eq!(
        record.checks_of(&commit)["kubeconform"].state,
        CheckState::Success
    );
}

/// Results of 200 made-up checks for `commit`, each passing.
fn flood(repo: &mut Strict<MemoryRepository>, commit: &CommitId) {
    for n in 0..200 {
        assert_eq!(
            report(repo, commit, CheckState::Success, &format!("made-up-{n}")),
            CheckOutcome::Recorded,
            "made-up check {n}"
        );
    }
}

#[test]
fn results_of_made_up_checks_never_push_out_the_one_that_holds_a_commit_back() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0x3a, "api", 2);
    report(&mut repo, &commit, CheckState::Pending, "policy");
    flood(&mut repo, &commit);
    // `policy` still runs: a pass of another check accepts nothing.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "kubeconform"),
        CheckOutcome::Recorded
    );
    assert_eq!(repo.inner().remote_tip(), &main);
    let record = repo.record(&main);
    assert_eq!(
        record.checks_of(&commit)["policy"].state,
        CheckState::Pending
    );
    assert!(record.checks_of(&commit).len() <= 32, "bounded per commit");
    let outcome = report(&mut repo, &commit, CheckState::Success, "policy");
    assert!(
        matches!(outcome, CheckOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    // Accepted: its results are no longer kept.
    let record = repo.record(&commit);
    assert!(record.checks_of(&commit).is_empty());
    let next = announce(&mut repo, 0x3b, "web", 2);
    report(&mut repo, &next, CheckState::Pending, "policy");
    assert_eq!(repo.record(&commit).checks_of(&next).len(), 1);
}

/// Review of this change: results were kept only for the commits waiting in the view of the
/// process recording one, also when its push of the state was rejected and it recorded again
/// on the newest state, so another replica's result for a commit it did not know yet was
/// dropped (and a later pass of another check accepted that commit while one still ran).
#[test]
fn a_result_recorded_by_another_replica_meanwhile_is_kept() {
    use crate::testing::{Push, SharedRepository};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let shared = SharedRepository::new(memory(PIPELINE));
    let other = Arc::new(Mutex::new(Strict::new(
        shared.clone(),
        clock(),
        options(true),
    )));
    let later: Arc<Mutex<Option<CommitId>>> = Arc::new(Mutex::new(None));
    let armed = Arc::new(AtomicBool::new(false));
    let hook = {
        let (other, later, armed) = (other.clone(), later.clone(), armed.clone());
        move |push: Push| {
            // This process is about to record its result: the other replica queues a change
            // and records a pending check for it first.
            if matches!(push, Push::State | Push::Both) && armed.swap(false, Ordering::SeqCst) {
                let mut other = other.lock().unwrap();
                let commit = announce(&mut other, 0x3e, "web", 2);
                other
                    .record_check(&CheckReport {
                        commit: commit.clone(),
                        state: CheckState::Pending,
                        context: "test".into(),
                    })
                    .unwrap();
                *later.lock().unwrap() = Some(commit);
            }
        }
    };
    let mut repo = Strict::new(
        shared.clone().before_each_push(hook),
        clock(),
        options(true),
    );
    repo.refresh().unwrap();
    let first = announce(&mut repo, 0x3d, "api", 2);
    armed.store(true, Ordering::SeqCst);
    report(&mut repo, &first, CheckState::Pending, "test");
    let second = later
        .lock()
        .unwrap()
        .clone()
        .expect("the other replica acted");
    let main = shared.with(|r| r.remote_tip().clone());
    let record = repo.record(&main);
    assert_eq!(record.checks_of(&first)["test"].state, CheckState::Pending);
    assert_eq!(
        record.checks_of(&second).get("test").map(|c| c.state),
        Some(CheckState::Pending),
        "the other replica's result was dropped"
    );
    // So a pass of another check does not accept the second commit while `test` runs.
    let outcome = other
        .lock()
        .unwrap()
        .record_check(&CheckReport {
            commit: second.clone(),
            state: CheckState::Success,
            context: "lint".into(),
        })
        .unwrap();
    assert_eq!(outcome, CheckOutcome::Recorded);
}

#[test]
fn with_contexts_results_of_other_checks_never_push_out_a_named_check_that_passed() {
    let mut repo = with_contexts("[\"kubeconform\", \"policy\"]");
    let main = repo.refresh().unwrap();
    let commit = announce(&mut repo, 0x3c, "api", 2);
    assert_eq!(
        report(&mut repo, &commit, CheckState::Success, "policy"),
        CheckOutcome::Recorded
    );
    flood(&mut repo, &commit);
    assert_eq!(repo.inner().remote_tip(), &main);
    let outcome = report(&mut repo, &commit, CheckState::Success, "kubeconform");
    assert!(
        matches!(outcome, CheckOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &commit);
}

/// Review of this change: a result's check name went into the state document as sent, and a
/// commit keeps 32 of them: a caller with the ci scope could grow the document every call
/// fetches by megabytes per result.
#[test]
fn a_result_whose_check_name_is_not_one_is_refused_and_recorded_nowhere() {
    let (mut repo, _) = strict(true);
    let main = repo.inner().remote_tip().clone();
    let commit = announce(&mut repo, 0x3f, "api", 2);
    let pushes = repo.inner().pushes;
    for context in [
        "x".repeat(256),
        "lint\nnext".to_owned(),
        "a\u{1b}[2J".to_owned(),
    ] {
        let error = repo
            .record_check(&CheckReport {
                commit: commit.clone(),
                state: CheckState::Pending,
                context: context.clone(),
            })
            .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Invalid, "{error}");
        assert!(
            !error.to_string().chars().any(char::is_control),
            "{error:?}"
        );
    }
    assert_eq!(repo.inner().pushes, pushes, "nothing pushed");
    assert!(repo.record(&main).checks_of(&commit).is_empty());
    // The longest name there is still is one.
    assert_eq!(
        report(&mut repo, &commit, CheckState::Pending, &"x".repeat(255)),
        CheckOutcome::Recorded
    );
}
