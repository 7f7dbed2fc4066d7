//! The pipeline state on its own ref beside the branch, against a real remote.

use crate::common;

use cfgupdate_core::{ConfigRepository, PairOutcome, PushOutcome, RepositoryErrorKind};
use cfgupdate_git::GitRepository;
use common::{BOTH, Remote, Served, change, id, options};

const FILES: &[(&str, &str)] = &[("images/staging.json", "{\"api\": \"a\"}\n")];
const STATE_REF: &str = "refs/cfgupdate/state/master";

fn pushed(outcome: PushOutcome) -> String {
    match outcome {
        PushOutcome::Pushed(id) => id.as_str().to_owned(),
        PushOutcome::Rejected => panic!("the push was rejected"),
    }
}

/// What the remote's state ref points at, or `None` when it has none.
fn remote_state(remote: &Remote) -> Option<String> {
    let output = cfgupdate_tests::try_git(&remote.bare, &["rev-parse", "--verify", STATE_REF]);
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A second cfgupdate process: its own cache directory, opened and refreshed.
fn elsewhere(remote: &Remote) -> (GitRepository, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let mut repository = GitRepository::open(options(&remote.url, cache.path())).unwrap();
    repository.refresh().unwrap();
    (repository, cache)
}

#[test]
fn a_remote_without_state_has_none() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let repository = remote.open();
        assert_eq!(repository.state().unwrap(), None, "{served:?}");
        assert!(repository.is_fresh());
    }
}

#[test]
fn a_created_state_is_read_back_by_another_cache_after_a_refresh() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut writer = remote.open();
        let cache = tempfile::tempdir().unwrap();
        let mut reader = GitRepository::open(options(&remote.url, cache.path())).unwrap();

        let first = pushed(
            writer
                .push_state(None, b"{\"reports\": []}\n", "Record state")
                .unwrap(),
        );

        assert_eq!(remote_state(&remote).as_deref(), Some(first.as_str()));
        let own = writer.state().unwrap().unwrap();
        assert_eq!(own.commit, id(&first), "the writer knows without a fetch");
        assert_eq!(own.content, b"{\"reports\": []}\n");
        assert_eq!(reader.state().unwrap(), None, "no fetch yet, {served:?}");
        reader.refresh().unwrap();
        assert_eq!(reader.state().unwrap(), Some(own));

        assert_eq!(
            remote.git(&["log", "-1", "--format=%P|%an <%ae>|%cn <%ce>|%B", &first]),
            "|cfgupdate test <cfgupdate@example.com>|cfgupdate test <cfgupdate@example.com>|Record state",
            "the first state commit has no parent"
        );
        assert_eq!(
            remote.git(&["ls-tree", &first]),
            format!(
                "100644 blob {}\tstate.json",
                remote.git(&["rev-parse", &format!("{first}:state.json")])
            )
        );

        let second = pushed(
            reader
                .push_state(Some(&id(&first)), b"{\"reports\": [1]}\n", "Report")
                .unwrap(),
        );
        assert_eq!(remote.git(&["rev-parse", &format!("{second}^")]), first);
        assert_eq!(
            remote.git(&["show", &format!("{STATE_REF}:state.json")]),
            "{\"reports\": [1]}"
        );
        writer.refresh().unwrap();
        assert_eq!(writer.state().unwrap().unwrap().commit, id(&second));
    }
}

#[test]
fn a_state_built_on_a_stale_parent_is_rejected_and_changes_nothing() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut first = remote.open();
        let (mut second, _cache) = elsewhere(&remote);
        let base = pushed(first.push_state(None, b"1", "One").unwrap());
        second.refresh().unwrap();
        let theirs = pushed(first.push_state(Some(&id(&base)), b"2", "Two").unwrap());

        // The second cache has not seen their commit.
        assert_eq!(
            second.push_state(Some(&id(&base)), b"3", "Three").unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        assert_eq!(remote_state(&remote).as_deref(), Some(theirs.as_str()));
        assert_eq!(second.state().unwrap().unwrap().commit, id(&base));

        // Refreshed, it has it, and a commit on the old parent is still refused.
        second.refresh().unwrap();
        assert_eq!(second.state().unwrap().unwrap().content, b"2");
        assert_eq!(
            second.push_state(Some(&id(&base)), b"3", "Three").unwrap(),
            PushOutcome::Rejected
        );
        assert_eq!(remote_state(&remote).as_deref(), Some(theirs.as_str()));
        assert!(
            second
                .last_rejection()
                .is_some_and(|reason| reason.contains(STATE_REF) && reason.contains(&theirs)),
            "{:?}",
            second.last_rejection()
        );

        // Built again on their commit, it lands on top of it.
        let ours = pushed(
            second
                .push_state(Some(&id(&theirs)), b"3", "Three")
                .unwrap(),
        );
        assert_eq!(remote.git(&["rev-parse", &format!("{ours}^")]), theirs);
    }
}

#[test]
fn creating_a_state_when_the_remote_has_one_is_rejected() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut first = remote.open();
        let (mut second, _cache) = elsewhere(&remote);
        let existing = pushed(first.push_state(None, b"1", "One").unwrap());

        // Unseen by the second cache, and then seen.
        assert_eq!(
            second.push_state(None, b"2", "Two").unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        second.refresh().unwrap();
        assert_eq!(
            second.push_state(None, b"2", "Two").unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        assert_eq!(remote_state(&remote).as_deref(), Some(existing.as_str()));
        assert_eq!(
            remote.git(&["rev-list", "--count", STATE_REF]),
            "1",
            "no second root was pushed"
        );
    }
}

#[test]
fn a_state_built_on_a_commit_the_remote_no_longer_holds_is_rejected() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut repository = remote.open();
        let one = pushed(repository.push_state(None, b"1", "One").unwrap());
        let two = pushed(repository.push_state(Some(&id(&one)), b"2", "Two").unwrap());

        // Rewound behind our back: a commit on `two` would fast-forward, but `two` is not
        // what the remote holds.
        remote.git(&["update-ref", STATE_REF, &one]);
        assert_eq!(
            repository
                .push_state(Some(&id(&two)), b"3", "Three")
                .unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        assert_eq!(remote_state(&remote).as_deref(), Some(one.as_str()));

        // Deleted: pushing on a parent must not quietly create the ref.
        remote.git(&["update-ref", "-d", STATE_REF]);
        assert_eq!(
            repository
                .push_state(Some(&id(&one)), b"3", "Three")
                .unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        assert_eq!(remote_state(&remote), None);
    }
}

#[test]
fn a_state_push_a_hook_declines_is_an_error_in_its_words_and_the_branch_still_moves() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let one = pushed(repository.push_state(None, b"1", "One").unwrap());
    // Refuses only the state refs, as a server that reserves refs/cfgupdate/ would.
    cfgupdate_tests::install_hook(
        &remote.bare,
        "pre-receive",
        "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in refs/cfgupdate/*)\n    echo push >> \"$GIT_DIR/pushes.log\"\n    echo \"refs/cfgupdate/* is reserved on this server\" >&2; exit 1;;\n  esac\ndone\nexit 0\n",
    );

    let error = repository
        .push_state(Some(&id(&one)), b"2", "Two")
        .unwrap_err();

    assert_eq!(error.kind, RepositoryErrorKind::Declined, "{error}");
    assert!(
        error.message.starts_with(
            "the remote refused the push: refs/cfgupdate/* is reserved on this server"
        ),
        "{error}"
    );
    assert!(error.message.contains(STATE_REF), "{error}");
    let log = std::fs::read_to_string(remote.bare.join("pushes.log")).unwrap();
    assert_eq!(log.lines().count(), 1);
    assert_eq!(remote_state(&remote).as_deref(), Some(one.as_str()));
    assert_eq!(repository.state().unwrap().unwrap().commit, id(&one));

    let tip = repository.tip().unwrap();
    let moved = pushed(
        repository
            .commit_and_push(&tip, &change(&[("a.txt", "a")], &[], "Publish"))
            .unwrap(),
    );
    assert_eq!(cfgupdate_tests::rev_parse(&remote.bare, "master"), moved);
}

#[test]
fn a_state_created_on_the_remote_after_we_looked_is_refused_by_the_server() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    // Between the advertisement our push checked and the server applying it, someone
    // creates the state: the hook plays that someone (outside the push's quarantine).
    let hook = format!(
        "#!/bin/sh\nenv -u GIT_QUARANTINE_PATH git update-ref {STATE_REF} {}\n",
        remote.initial
    );
    cfgupdate_tests::install_hook(&remote.bare, "pre-receive", &hook);

    assert_eq!(
        repository.push_state(None, b"1", "One").unwrap(),
        PushOutcome::Rejected
    );
    assert_eq!(remote_state(&remote), Some(remote.initial.clone()));
    assert_eq!(repository.state().unwrap(), None);
    let reason = repository.last_rejection().unwrap_or_default();
    assert!(reason.contains("failed to update ref"), "{reason}");
}

#[test]
fn state_pushes_leave_the_branch_alone() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();

    let one = pushed(repository.push_state(None, b"1", "One").unwrap());
    assert_eq!(remote.tip(), remote.initial);
    assert_eq!(repository.tip().unwrap(), tip);
    assert!(repository.is_fresh());

    let branch = pushed(
        repository
            .commit_and_push(&tip, &change(&[("a.txt", "a")], &[], "Add a"))
            .unwrap(),
    );
    let two = pushed(repository.push_state(Some(&id(&one)), b"2", "Two").unwrap());
    assert_eq!(remote.tip(), branch);
    assert_eq!(repository.tip().unwrap(), id(&branch));
    assert_eq!(
        remote.git(&["rev-list", "master"]),
        format!("{branch}\n{}", remote.initial),
        "no state commit in the branch's history"
    );
    assert_eq!(
        remote.git(&["rev-list", STATE_REF]),
        format!("{two}\n{one}")
    );

    let listed = remote.git(&["ls-remote", &remote.url]);
    assert_eq!(
        listed,
        format!("{branch}\tHEAD\n{two}\t{STATE_REF}\n{branch}\trefs/heads/master")
    );
    let fsck = cfgupdate_tests::try_git(&remote.bare, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success() && fsck.stdout.is_empty() && fsck.stderr.is_empty(),
        "fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );

    // And a branch push's outgoing ref never touches the state this cache tracks.
    repository.refresh().unwrap();
    assert_eq!(repository.state().unwrap().unwrap().commit, id(&two));
}

#[test]
fn a_clone_of_the_branch_does_not_fetch_the_state() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let state = pushed(repository.push_state(None, b"secret-ish", "One").unwrap());

    let person = remote.person("Alice");
    assert_eq!(person.head(), remote.initial);
    let refs = person.git(&["for-each-ref", "--format=%(refname)"]);
    assert!(!refs.contains("cfgupdate"), "{refs}");
    let present = cfgupdate_tests::try_git(person.dir(), &["cat-file", "-e", &state]);
    assert!(
        !present.status.success(),
        "the clone holds the state commit"
    );
}

#[test]
fn a_state_commit_without_its_file_is_a_clear_error() {
    let remote = Remote::new(Served::Path, FILES);
    let stray = remote.git(&[
        "-c",
        "user.name=Someone",
        "-c",
        "user.email=someone@example.com",
        "commit-tree",
        "-m",
        "Not a state",
        "master^{tree}",
    ]);
    remote.git(&["update-ref", STATE_REF, &stray]);
    let repository = remote.open();

    let error = repository.state().unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Failed, "{error}");
    assert!(error.message.contains(STATE_REF), "{error}");
    assert!(error.message.contains("no `state.json`"), "{error}");
    assert!(error.message.contains(&remote.url), "{error}");
}

#[test]
fn a_state_deleted_on_the_remote_is_dropped_by_the_next_refresh() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    pushed(repository.push_state(None, b"1", "One").unwrap());
    remote.git(&["update-ref", "-d", STATE_REF]);

    assert!(repository.state().unwrap().is_some(), "no fetch yet");
    repository.refresh().unwrap();
    assert_eq!(repository.state().unwrap(), None);
}

#[test]
fn a_parent_the_cache_never_saw_is_not_found() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let error = repository
        .push_state(Some(&id(&"c".repeat(40))), b"1", "One")
        .unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::NotFound, "{error}");
    assert_eq!(remote_state(&remote), None);
}

/// Has the remote log every push it receives: one `push` line, then the refs it updated.
fn log_pushes(remote: &Remote) {
    cfgupdate_tests::install_hook(
        &remote.bare,
        "post-receive",
        "#!/bin/sh\n{ echo push; while read old new ref; do echo \"$ref $new\"; done; } >> \"$GIT_DIR/pushes.log\"\n",
    );
}

fn pushes_logged(remote: &Remote) -> String {
    std::fs::read_to_string(remote.bare.join("pushes.log")).unwrap_or_default()
}

#[test]
fn a_branch_commit_and_a_state_commit_land_together_in_one_push() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let one = pushed(repository.push_state(None, b"1", "One").unwrap());
    log_pushes(&remote);
    let tip = repository.tip().unwrap();

    let outcome = repository
        .push_with_state(
            &tip,
            &change(&[("a.txt", "a")], &[], "Promote"),
            Some(&id(&one)),
            b"2",
            "Two",
        )
        .unwrap();

    let PairOutcome::Pushed { commit, state } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(remote.tip(), commit.as_str());
    assert_eq!(remote_state(&remote).as_deref(), Some(state.as_str()));
    assert_eq!(remote.git(&["rev-parse", &format!("{state}^")]), one);
    assert_eq!(
        remote.git(&["show", &format!("{STATE_REF}:state.json")]),
        "2"
    );
    assert_eq!(
        pushes_logged(&remote),
        format!("push\nrefs/heads/master {commit}\n{STATE_REF} {state}\n"),
        "both refs in one push"
    );
    // The cache knows both without a fetch.
    assert_eq!(repository.tip().unwrap(), commit);
    assert_eq!(repository.state().unwrap().unwrap().commit, state);
    assert!(repository.is_fresh());
}

#[test]
fn a_push_of_both_refs_after_a_person_pushed_changes_nothing() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let one = pushed(repository.push_state(None, b"1", "One").unwrap());
    let tip = repository.tip().unwrap();
    let theirs = remote
        .person("alice")
        .commit_and_push(&[("README.md", "A person's edit\n")], "Edit the readme");
    log_pushes(&remote);

    let outcome = repository
        .push_with_state(
            &tip,
            &change(&[("a.txt", "a")], &[], "Promote"),
            Some(&id(&one)),
            b"2",
            "Two",
        )
        .unwrap();

    assert_eq!(outcome, PairOutcome::Rejected);
    assert_eq!(remote.tip(), theirs, "the person's commit stays");
    assert_eq!(remote_state(&remote).as_deref(), Some(one.as_str()));
    assert_eq!(pushes_logged(&remote), "", "nothing was sent");
    assert!(!repository.is_fresh());
}

#[test]
fn a_push_of_both_refs_after_the_state_moved_changes_nothing() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let one = pushed(repository.push_state(None, b"1", "One").unwrap());
    let (mut other, _cache) = elsewhere(&remote);
    let theirs = pushed(other.push_state(Some(&id(&one)), b"x", "X").unwrap());
    let tip = repository.tip().unwrap();
    log_pushes(&remote);

    let outcome = repository
        .push_with_state(
            &tip,
            &change(&[("a.txt", "a")], &[], "Promote"),
            Some(&id(&one)),
            b"2",
            "Two",
        )
        .unwrap();

    assert_eq!(outcome, PairOutcome::Rejected);
    assert_eq!(remote.tip(), tip.as_str());
    assert_eq!(remote_state(&remote).as_deref(), Some(theirs.as_str()));
    assert_eq!(pushes_logged(&remote), "", "nothing was sent");
}
