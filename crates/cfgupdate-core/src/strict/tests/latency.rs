//! A green result's cost (docs/benchmarks.md, issue 14): decided on the branches this process
//! knows current, it fetches nothing and pushes the state and the main branch in one atomic
//! push (two in order where the remote cannot take one); a change made elsewhere meanwhile is
//! found out by those compare-and-swaps.

use super::*;

#[test]
fn a_green_result_for_a_change_this_process_queued_fetches_nothing_and_pushes_once() {
    green_cost(
        true,
        (1, 1),
        "the state and the main branch, in one atomic push",
    );
}

#[test]
fn without_an_atomic_push_a_green_result_pushes_the_state_then_the_main_branch() {
    green_cost(false, (2, 1), "the state, then the main branch");
}

/// A green result's fetches and pushes, on a remote that takes atomic pushes or not.
fn green_cost(atomic: bool, expected: (usize, usize), what: &str) {
    let (mut repo, _) = strict(true);
    repo.inner_mut().non_atomic = !atomic;
    let commit = announce(&mut repo, 0xe1, "api", 2);
    let (fetches, pushes, branch_pushes) = (
        repo.inner().fetches,
        repo.inner().pushes,
        repo.inner().branch_pushes,
    );
    let outcome = check(&mut repo, &commit, CheckState::Success);
    assert!(
        matches!(&outcome, CheckOutcome::Accepted { main, .. } if main == &commit),
        "{outcome:?}"
    );
    assert_eq!(repo.inner().remote_tip(), &commit);
    assert_eq!(repo.inner().fetches, fetches, "no fetch");
    assert_eq!(
        (
            repo.inner().pushes - pushes,
            repo.inner().branch_pushes - branch_pushes
        ),
        expected,
        "{what}"
    );
    // The view is what a fetch would show: nothing waits, and the next change is built on
    // the main branch.
    assert_eq!(repo.tip().unwrap(), commit);
    assert!(repo.queue().unwrap().unwrap().changes.is_empty());
    let next = announce(&mut repo, 0xe2, "web", 2);
    assert_eq!(repo.log(&next, 2).unwrap()[1].id, commit);
    assert_eq!(repo.inner().remote_tip(), &commit);
}

#[test]
fn a_green_result_decided_on_a_view_a_person_outdated_never_moves_main_over_their_push() {
    let (mut repo, _) = strict(true);
    let commit = announce(&mut repo, 0xe3, "api", 2);
    // A person pushes the main branch just before the next push: the state's push lands,
    // the fast-forward is refused, and the branches are fetched.
    repo.inner_mut()
        .race_next_push("A person's commit", |tree| {
            tree.insert(RepoPath::parse("README.md").unwrap(), b"by hand\n".to_vec());
        });
    assert_eq!(
        check(&mut repo, &commit, CheckState::Success),
        CheckOutcome::Ignored(Ignored::NotPending)
    );
    let theirs = repo.inner().raced()[0].clone();
    assert_eq!(repo.inner().remote_tip(), &theirs);
    // The change waits again, replayed on the person's commit, and goes to CI again.
    let auto = repo.inner().remote_side("auto").unwrap().clone();
    assert_ne!(auto, commit);
    assert!(repo.inner().is_ancestor(&theirs, &auto).unwrap());
    let queue = repo.queue().unwrap().unwrap();
    assert_eq!(queue.changes.len(), 1);
    assert_eq!(queue.changes[0].commit, auto);
    assert!(auto_text(&repo, "images/staging.json").contains(&reference("api", 2)));
    assert_eq!(
        check(&mut repo, &auto, CheckState::Success),
        CheckOutcome::Accepted {
            main: auto.clone(),
            changes: queue.changes.iter().map(|c| c.subject.clone()).collect(),
        }
    );
    assert_eq!(repo.inner().remote_tip(), &auto);
}
