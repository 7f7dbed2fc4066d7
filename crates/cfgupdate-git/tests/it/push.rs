//! Pushing one commit at a time, never by force, against a real remote.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use cfgupdate_core::{ConfigRepository, PushOutcome, RepositoryErrorKind};
use cfgupdate_git::GitRepository;
use common::{BOTH, Remote, Served, change, id, path};

const FILES: &[(&str, &str)] = &[
    ("cfgupdate.toml", "[[wave]]\n"),
    ("images/staging.json", "{\"api\": \"a\"}\n"),
    ("old/only.txt", "gone soon\n"),
];

fn pushed(outcome: PushOutcome) -> String {
    match outcome {
        PushOutcome::Pushed(id) => id.as_str().to_owned(),
        PushOutcome::Rejected => panic!("the push was rejected"),
    }
}

#[test]
fn a_pushed_commit_lands_whole_and_git_reads_its_trailers() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut repository = remote.open();
        let parent = repository.tip().unwrap();
        let change = change(
            &[
                ("images/staging.json", "{\"api\": \"b\"}\n"),
                ("envs/new/deep/main.jsonnet", "{}\n"),
            ],
            &["old/only.txt"],
            "Publish api to staging",
        );

        let commit = pushed(repository.commit_and_push(&parent, &change).unwrap());

        assert_eq!(remote.tip(), commit, "{served:?}");
        let fsck = cfgupdate_tests::try_git(&remote.bare, &["fsck", "--strict", "--no-dangling"]);
        assert!(
            fsck.status.success() && fsck.stdout.is_empty() && fsck.stderr.is_empty(),
            "fsck: {}{}",
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        );
        assert_eq!(
            remote.git(&["log", "-1", "--format=%P|%an <%ae>|%cn <%ce>", &commit]),
            format!(
                "{parent}|cfgupdate test <cfgupdate@example.com>|cfgupdate test <cfgupdate@example.com>"
            )
        );
        assert_eq!(
            remote.git(&["ls-tree", "-r", "--name-only", &commit]),
            "cfgupdate.toml\nenvs/new/deep/main.jsonnet\nimages/staging.json",
            "the emptied directory `old` is gone"
        );
        assert_eq!(
            remote.git(&["show", &format!("{commit}:images/staging.json")]),
            "{\"api\": \"b\"}"
        );
        let message = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            message.path(),
            remote.git(&["log", "-1", "--format=%B", &commit]),
        )
        .unwrap();
        assert_eq!(
            remote.git(&[
                "interpret-trailers",
                "--parse",
                message.path().to_str().unwrap()
            ]),
            "Cfgupdate-Action: publish\nCfgupdate-Wave: staging"
        );

        assert_eq!(
            repository.tip().unwrap(),
            id(&commit),
            "the cache knows without a fetch"
        );
        assert!(repository.is_fresh());
        let person = remote.person("Alice");
        assert_eq!(person.head(), commit);
    }
}

#[test]
fn a_commit_on_a_parent_someone_pushed_past_is_rejected_and_changes_nothing() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut repository = remote.open();
        let stale = repository.tip().unwrap();
        let person = remote.person("Alice");
        let theirs = person.commit_and_push(&[("people.txt", "alice\n")], "Alice's change");
        let change = change(&[("images/staging.json", "{}\n")], &[], "Publish");

        // The cache has not seen Alice's commit: libgit2 refuses it as "not present locally".
        assert_eq!(
            repository.commit_and_push(&stale, &change).unwrap(),
            PushOutcome::Rejected,
            "{served:?}"
        );
        assert_eq!(remote.tip(), theirs);
        assert!(!repository.is_fresh());
        assert_eq!(
            repository.tip().unwrap(),
            stale,
            "the tracking ref did not move"
        );

        // Refreshed, the cache has it, and a commit on the old parent is no fast-forward.
        assert_eq!(repository.refresh().unwrap(), id(&theirs));
        assert!(repository.is_fresh());
        assert_eq!(
            repository
                .read_file(&id(&theirs), &path("people.txt"))
                .unwrap(),
            Some(b"alice\n".to_vec())
        );
        assert_eq!(
            repository.commit_and_push(&stale, &change).unwrap(),
            PushOutcome::Rejected
        );
        assert_eq!(remote.tip(), theirs);
        assert!(
            repository
                .last_rejection()
                .is_some_and(|reason| reason.contains(&format!("is at {theirs}, not at {stale}"))),
            "{:?}",
            repository.last_rejection()
        );

        // Built again on the new tip, it lands and keeps Alice's work.
        let ours = pushed(repository.commit_and_push(&id(&theirs), &change).unwrap());
        assert_eq!(remote.git(&["rev-parse", &format!("{ours}^")]), theirs);
    }
}

/// A pre-receive hook that logs each push it sees in `pushes.log` beside the hooks, prints
/// `words` (as a server's hook or a protected branch does) and declines.
fn declining_hook(words: &str) -> String {
    format!(
        "#!/bin/sh\necho push >> \"$GIT_DIR/pushes.log\"\nprintf '%s\\n' '{words}' >&2\nexit 1\n"
    )
}

fn pushes_seen(remote: &Remote) -> usize {
    std::fs::read_to_string(remote.bare.join("pushes.log"))
        .map(|log| log.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_push_the_server_declines_is_an_error_in_its_own_words_after_one_attempt() {
    let remote = Remote::new(Served::Daemon, FILES);
    cfgupdate_tests::install_hook(
        &remote.bare,
        "pre-receive",
        &declining_hook("protected branch: master needs a review"),
    );
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();
    let change = change(&[("images/staging.json", "{}\n")], &[], "Publish");

    let error = repository.commit_and_push(&tip, &change).unwrap_err();

    assert_eq!(error.kind, RepositoryErrorKind::Declined, "{error}");
    assert!(
        error
            .message
            .starts_with("the remote refused the push: protected branch: master needs a review"),
        "{error}"
    );
    assert!(
        error.message.contains("pre-receive hook declined"),
        "{error}"
    );
    assert!(error.message.contains("refs/heads/master"), "{error}");
    assert_eq!(pushes_seen(&remote), 1);
    assert_eq!(remote.tip(), remote.initial);
    assert_eq!(repository.tip().unwrap(), tip);
    assert!(
        repository
            .last_rejection()
            .is_some_and(|reason| reason.contains("needs a review")),
        "{:?}",
        repository.last_rejection()
    );
    assert_fsck_clean(&remote);
}

#[test]
fn what_a_declining_server_prints_is_escaped_and_bounded() {
    let remote = Remote::new(Served::Daemon, FILES);
    let shouting = "no! ".repeat(2_000);
    cfgupdate_tests::install_hook(
        &remote.bare,
        "pre-receive",
        &format!(
            "#!/bin/sh\nprintf 'line one\\n\\033[31mred\\033]0;title\\a\\n{shouting}\\n' >&2\nexit 1\n"
        ),
    );
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();
    let error = repository
        .commit_and_push(&tip, &change(&[("a.txt", "a")], &[], "Publish"))
        .unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Declined, "{error}");
    assert!(
        !error.message.chars().any(char::is_control),
        "{:?}",
        error.message
    );
    assert!(error.message.contains("line one"), "{error}");
    assert!(error.message.contains("\\u{1b}[31mred"), "{error}");
    assert!(
        error.message.chars().count() < 1_500,
        "{}",
        error.message.len()
    );
    assert!(error.message.contains("more characters"), "{error}");
}

#[test]
fn a_branch_force_pushed_back_is_never_resurrected_by_a_push_built_on_the_cached_tip() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let person = remote.person("Alice");
        let leaked = person.commit_and_push(&[("secret.txt", "hunter2\n")], "Oops, a secret");
        let mut repository = remote.open();
        assert_eq!(repository.tip().unwrap(), id(&leaked));
        // Alice removes the secret by rewinding the branch; the cache still holds it.
        person.git(&["reset", "--hard", &remote.initial]);
        person.git(&["push", "--force", "origin", "master"]);
        assert_eq!(remote.tip(), remote.initial);

        let change = change(&[("images/staging.json", "{}\n")], &[], "Publish");
        assert_eq!(
            repository.commit_and_push(&id(&leaked), &change).unwrap(),
            PushOutcome::Rejected,
            "{served:?}: a fast-forward from the rewound tip is not the commit it was built on"
        );
        assert_eq!(remote.tip(), remote.initial);
        let history = remote.git(&["rev-list", "--all"]);
        assert!(!history.contains(&leaked), "{served:?}: {history}");

        // Replayed on the new tip (what the core does), it lands without the secret.
        let tip = repository.refresh().unwrap();
        assert_eq!(tip, id(&remote.initial));
        let ours = pushed(repository.commit_and_push(&tip, &change).unwrap());
        let history = remote.git(&["rev-list", &ours]);
        assert!(!history.contains(&leaked), "{served:?}: {history}");
        assert_eq!(history.lines().count(), 2);
        assert_fsck_clean(&remote);
    }
}

#[test]
fn a_deleted_branch_is_an_error_and_is_never_recreated_even_from_a_warm_cache() {
    for served in BOTH {
        let remote = Remote::new(served, FILES);
        let mut repository = remote.open();
        let tip = repository.tip().unwrap();
        remote.git(&["update-ref", "-d", "refs/heads/master"]);

        let error = repository
            .commit_and_push(&tip, &change(&[("a.txt", "a")], &[], "Publish"))
            .unwrap_err();

        assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
        assert!(
            error.message.contains("branch `master` no longer exists")
                && error.message.contains("never creates a branch"),
            "{error}"
        );
        let refs = cfgupdate_tests::try_git(&remote.bare, &["show-ref"]);
        assert!(
            !String::from_utf8_lossy(&refs.stdout).contains("refs/heads/master"),
            "{served:?}: the branch came back"
        );
        assert!(!repository.is_fresh());
        // The remote's HEAD names the deleted branch, which fsck notes; nothing is broken.
        let fsck = cfgupdate_tests::try_git(&remote.bare, &["fsck", "--strict"]);
        assert!(fsck.status.success(), "{fsck:?}");
    }
}

fn assert_fsck_clean(remote: &Remote) {
    let fsck = cfgupdate_tests::try_git(&remote.bare, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success() && fsck.stderr.is_empty(),
        "fsck: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

#[test]
fn a_change_that_changes_nothing_is_never_pushed() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();
    for nothing in [
        change(
            &[("images/staging.json", "{\"api\": \"a\"}\n")],
            &[],
            "Same",
        ),
        change(&[], &["not/there.json"], "Delete nothing"),
        change(&[], &[], "No files"),
    ] {
        let error = repository.commit_and_push(&tip, &nothing).unwrap_err();
        assert_eq!(error.kind, RepositoryErrorKind::Failed);
        assert!(error.message.contains("empty commit"), "{error}");
        assert!(error.message.contains(&remote.url), "{error}");
    }
    assert_eq!(remote.tip(), remote.initial);
}

#[test]
fn an_executable_file_stays_executable_when_rewritten() {
    let remote = Remote::new(Served::Path, FILES);
    let person = remote.person("Alice");
    person.write("hooks/check.sh", "#!/bin/sh\n");
    let script = person.dir().join("hooks/check.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    person.commit("Add a check");
    let parent = person.push();
    let mut repository = remote.open();

    let commit = pushed(
        repository
            .commit_and_push(
                &id(&parent),
                &change(&[("hooks/check.sh", "#!/bin/sh\nexit 0\n")], &[], "Edit"),
            )
            .unwrap(),
    );
    assert!(
        remote
            .git(&["ls-tree", &parent, "hooks/check.sh"])
            .starts_with("100755 ")
    );
    let entry = remote.git(&["ls-tree", &commit, "hooks/check.sh"]);
    assert!(entry.starts_with("100755 "), "{entry}");
}

#[test]
fn two_writers_sharing_a_cache_never_both_advance_from_one_parent() {
    let remote = Remote::new(Served::Daemon, FILES);
    let parent = remote.open().tip().unwrap();
    let start = Arc::new(Barrier::new(2));
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let options = remote.options();
            let start = Arc::clone(&start);
            let parent = parent.clone();
            thread::spawn(move || {
                let mut repository = GitRepository::open(options).unwrap();
                let change = change(&[(&format!("{name}.txt"), name)], &[], name);
                start.wait();
                repository.commit_and_push(&parent, &change).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<PushOutcome> = writers.into_iter().map(|w| w.join().unwrap()).collect();

    let landed: Vec<&PushOutcome> = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, PushOutcome::Pushed(_)))
        .collect();
    assert_eq!(landed.len(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&PushOutcome::Rejected));
    assert_eq!(landed[0], &PushOutcome::Pushed(id(&remote.tip())));
}

#[test]
fn a_writer_waits_while_another_process_holds_the_cache_lock() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();
    let holder = std::fs::File::open(repository.lock_file()).unwrap();
    holder.lock().unwrap();

    let (done, finished) = mpsc::channel();
    let writer = thread::spawn(move || {
        let outcome = repository
            .commit_and_push(&tip, &change(&[("a.txt", "a")], &[], "Add a"))
            .unwrap();
        done.send(()).unwrap();
        outcome
    });
    assert!(
        finished.recv_timeout(Duration::from_millis(500)).is_err(),
        "the push went ahead while the lock was held"
    );
    assert_eq!(remote.tip(), remote.initial);

    holder.unlock().unwrap();
    finished.recv_timeout(Duration::from_secs(10)).unwrap();
    let outcome = writer.join().unwrap();
    assert_eq!(outcome, PushOutcome::Pushed(id(&remote.tip())));
}
