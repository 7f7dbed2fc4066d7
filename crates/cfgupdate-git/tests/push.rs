//! Pushing one commit at a time, never by force, against a real remote.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use cfgupdate_core::repository::{ConfigRepository, PushOutcome, RepositoryErrorKind};
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
                .is_some_and(|reason| reason.contains("fastforward")),
            "{:?}",
            repository.last_rejection()
        );

        // Built again on the new tip, it lands and keeps Alice's work.
        let ours = pushed(repository.commit_and_push(&id(&theirs), &change).unwrap());
        assert_eq!(remote.git(&["rev-parse", &format!("{ours}^")]), theirs);
    }
}

#[test]
fn a_push_the_server_declines_is_rejected() {
    let remote = Remote::new(Served::Daemon, FILES);
    cfgupdate_tests::install_hook(&remote.bare, "pre-receive", "#!/bin/sh\nexit 1\n");
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();
    let change = change(&[("images/staging.json", "{}\n")], &[], "Publish");

    assert_eq!(
        repository.commit_and_push(&tip, &change).unwrap(),
        PushOutcome::Rejected
    );
    assert_eq!(remote.tip(), remote.initial);
    assert_eq!(repository.tip().unwrap(), tip);
    assert!(!repository.is_fresh());
    assert!(
        repository
            .last_rejection()
            .is_some_and(|reason| reason.contains("hook declined")),
        "{:?}",
        repository.last_rejection()
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
