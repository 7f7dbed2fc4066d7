//! Several CI checks report on one commit: a `success` accepts it only when no other check of
//! it is pending, failed or errored, and with `[strict] contexts` only when every named check
//! passed (the others are recorded and never decide).

use super::*;

fn report(
    repo: &mut Strict<MemoryRepository>,
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
    // Accepted: its results are no longer kept once another commit's result comes.
    let next = announce(&mut repo, 0x3b, "web", 2);
    report(&mut repo, &next, CheckState::Pending, "policy");
    let record = repo.record(&commit);
    assert!(record.checks_of(&commit).is_empty());
    assert_eq!(record.checks_of(&next).len(), 1);
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
