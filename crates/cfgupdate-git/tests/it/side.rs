//! Strict mode's second branch against a real remote: the auto branch is fetched, replaced by
//! a compare-and-swap, and the main branch only ever fast-forwarded to one of its commits.

use crate::common;

use cfgupdate_core::{ConfigRepository, PushOutcome, RepositoryErrorKind};
use common::{BOTH, BRANCH, Remote, Served, change};

const FILES: &[(&str, &str)] = &[("images/staging.json", "{\"api\": \"a\"}\n")];

#[test]
fn the_auto_branch_is_created_replaced_by_compare_and_swap_and_main_fast_forwarded() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut repo = remote.open();
        let main = repo.tip().unwrap();
        assert_eq!(repo.refresh_side("auto").unwrap(), None, "{served:?}");

        // Two commits made locally, one on the other; nothing pushed yet.
        let first = repo
            .create_commit(
                &main,
                &change(
                    &[("images/staging.json", "{\"api\": \"b\"}\n")],
                    &[],
                    "First",
                ),
            )
            .unwrap();
        let second = repo
            .create_commit(
                &first,
                &change(
                    &[("images/staging.json", "{\"api\": \"c\"}\n")],
                    &[],
                    "Second",
                ),
            )
            .unwrap();
        assert_eq!(
            repo.read_file(&second, &common::path("images/staging.json"))
                .unwrap()
                .unwrap(),
            b"{\"api\": \"c\"}\n"
        );
        assert!(
            cfgupdate_tests::try_git(
                &remote.bare,
                &["rev-parse", "--verify", "-q", "refs/heads/auto"]
            )
            .stdout
            .is_empty()
        );

        // Created only when absent.
        assert_eq!(
            repo.set_side("auto", Some(&main), &second).unwrap(),
            PushOutcome::Rejected
        );
        assert_eq!(
            repo.set_side("auto", None, &second).unwrap(),
            PushOutcome::Pushed(second.clone())
        );
        assert_eq!(
            remote.git(&["rev-parse", "refs/heads/auto"]),
            second.as_str()
        );
        assert_eq!(repo.side_tip("auto").unwrap(), Some(second.clone()));

        // Replaced (not a fast-forward) only from the value expected.
        assert_eq!(
            repo.set_side("auto", None, &first).unwrap(),
            PushOutcome::Rejected
        );
        assert_eq!(
            repo.set_side("auto", Some(&second), &first).unwrap(),
            PushOutcome::Pushed(first.clone())
        );
        assert_eq!(
            remote.git(&["rev-parse", "refs/heads/auto"]),
            first.as_str()
        );

        // Another cache fetches it.
        let mut other = common::Remote::open_other(&remote);
        assert_eq!(other.refresh_side("auto").unwrap(), Some(first.clone()));

        // Main: fast-forwarded from what it is, never to a commit off its line.
        assert_eq!(
            repo.fast_forward(&main, &first).unwrap(),
            PushOutcome::Pushed(first.clone())
        );
        assert_eq!(remote.tip(), first.as_str());
        let person = remote.person("person");
        person.pull();
        person.write("README.md", "by hand\n");
        person.commit("A person's commit");
        let theirs = person.push();
        // Main moved: the fast-forward from the old tip is rejected, nothing changes.
        assert_eq!(
            repo.fast_forward(&first, &second).unwrap(),
            PushOutcome::Rejected
        );
        assert_eq!(remote.tip(), theirs);
        // A commit that does not descend from main is refused before any push.
        repo.refresh().unwrap();
        let error = repo
            .fast_forward(&common::id(&theirs), &second)
            .unwrap_err();
        assert_eq!(error.kind, RepositoryErrorKind::Failed, "{error}");
        assert!(error.message.contains("never forced"), "{error}");
        assert_eq!(remote.tip(), theirs);
        assert_eq!(remote.git(&["rev-parse", BRANCH]), theirs);
    }
}

#[test]
fn main_is_fast_forwarded_with_the_state_in_one_atomic_push_or_not_at_all() {
    // Over git daemon, changes inside the push included; a local path has no receive-pack
    // (libgit2 updates its refs itself), so only changes made before the push.
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repo = remote.open();
    common::fast_forward_with_state_lands_both_or_neither(&mut repo, &remote.bare, true, true);
    let remote = Remote::new(Served::Path, FILES);
    let mut repo = remote.open();
    common::fast_forward_with_state_lands_both_or_neither(&mut repo, &remote.bare, false, false);
}

#[test]
fn a_server_that_does_not_offer_atomic_pushes_gets_the_state_then_the_fast_forward() {
    let remote = Remote::new(Served::Daemon, FILES);
    remote.git(&["config", "receive.advertiseAtomic", "false"]);
    let mut repo = remote.open();
    common::fast_forward_with_state_lands_both_or_neither(&mut repo, &remote.bare, true, false);
}

#[test]
fn the_auto_branch_may_not_be_the_main_branch() {
    let remote = Remote::new(common::Served::Path, FILES);
    let mut repo = remote.open();
    let error = repo.refresh_side(BRANCH).unwrap_err();
    assert!(
        error.message.contains("the branch Argo CD watches"),
        "{error}"
    );
}
