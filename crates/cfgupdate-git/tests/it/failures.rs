//! When the remote cannot be reached, has no branch, or the cache was left broken.

use crate::common;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use cfgupdate_core::{ConfigRepository, PushOutcome, RepositoryErrorKind};
use cfgupdate_git::GitRepository;
use common::{BOTH, Remote, Served, change, id, options, path, unpack_all};

const FILES: &[(&str, &str)] = &[("images/staging.json", "{}\n")];

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_remote_is_unavailable_quickly() {
    let cache = tempfile::tempdir().unwrap();
    let url = format!("git://127.0.0.1:{}/config.git", closed_port());
    let mut repository = GitRepository::open(options(&url, cache.path())).unwrap();

    let started = Instant::now();
    let error = repository.refresh().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
    assert!(error.message.contains(&url), "{error}");
    assert!(error.message.contains("fetch"), "{error}");
    assert!(!repository.is_fresh());
}

#[test]
fn a_remote_path_that_does_not_exist_is_unavailable() {
    let cache = tempfile::tempdir().unwrap();
    let missing = cache.path().join("nowhere.git");
    let mut repository =
        GitRepository::open(options(missing.to_str().unwrap(), cache.path())).unwrap();
    let error = repository.refresh().unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
    assert!(
        error.message.contains("there is no repository at")
            && error.message.contains("nowhere.git"),
        "{error}"
    );
}

#[test]
fn a_push_to_a_remote_gone_away_is_unavailable_and_not_fresh() {
    let mut remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let tip = repository.tip().unwrap();
    drop(remote.daemon.take());

    let error = repository
        .commit_and_push(&tip, &change(&[("a.txt", "a")], &[], "Add a"))
        .unwrap_err();
    assert_eq!(error.kind, RepositoryErrorKind::Unavailable, "{error}");
    assert!(error.message.contains("push"), "{error}");
    assert!(!repository.is_fresh());
}

#[test]
fn a_secret_in_the_url_never_shows() {
    let secret = "s3cret-Pa55";
    let mut shown = Vec::new();

    // Unreachable.
    let cache = tempfile::tempdir().unwrap();
    let url = format!("git://bot:{secret}@127.0.0.1:{}/config.git", closed_port());
    let mut repository = GitRepository::open(options(&url, cache.path())).unwrap();
    let error = repository.refresh().unwrap_err();
    assert!(error.message.contains("git://***@127.0.0.1"), "{error}");
    shown.push(format!("{error} {error:?}"));
    shown.push(format!("{:?} {}", repository.remote(), repository.remote()));
    shown.push(repository.cache_path().display().to_string());

    // Reachable, with no such branch, and asked for a revision it lacks.
    let remote = Remote::new(Served::Daemon, &[]);
    let port = remote.daemon.as_ref().unwrap().port();
    let url = format!("git://bot:{secret}@127.0.0.1:{port}/config.git");
    let mut repository = GitRepository::open(options(&url, cache.path())).unwrap();
    shown.push(repository.refresh().unwrap_err().to_string());
    shown.push(repository.tip().unwrap_err().to_string());
    shown.push(
        repository
            .read_file(&id(&"c".repeat(40)), &path("a.json"))
            .unwrap_err()
            .to_string(),
    );
    shown.push(
        repository
            .push_state(Some(&id(&"c".repeat(40))), b"{}", "State")
            .unwrap_err()
            .to_string(),
    );
    let everything = fs::read_dir(cache.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    shown.extend(everything);

    for text in &shown {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("bot:"), "{text}");
    }
}

#[test]
fn a_missing_branch_is_a_clear_error() {
    for served in BOTH {
        let remote = Remote::new(served, &[]);
        let mut repository = GitRepository::open(remote.options()).unwrap();
        let error = repository.refresh().unwrap_err();
        assert_eq!(error.kind, RepositoryErrorKind::NotFound, "{error}");
        assert!(error.message.contains("has no branch `master`"), "{error}");
        assert!(error.message.contains(&remote.url), "{error}");
    }
}

#[test]
fn a_branch_deleted_on_the_remote_is_gone_from_the_cache_after_a_refresh() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    remote.git(&["update-ref", "-d", "refs/heads/master"]);

    assert_eq!(
        repository.refresh().unwrap_err().kind,
        RepositoryErrorKind::NotFound
    );
    assert_eq!(
        repository.tip().unwrap_err().kind,
        RepositoryErrorKind::NotFound
    );
}

/// Ways a crash (or a person) can leave a cache broken.
/// A way to break a cache: its name, what the diagnosis must say, and what it does.
type Breakage = (&'static str, &'static str, fn(&Path));

fn breakages() -> Vec<Breakage> {
    vec![
        ("not a repository", "not a git repository", |git_dir| {
            fs::remove_dir_all(git_dir).unwrap();
            fs::create_dir_all(git_dir.join("junk")).unwrap();
            fs::write(git_dir.join("HEAD"), "not a ref\n").unwrap();
        }),
        (
            "a file instead of a directory",
            "not a git repository",
            |git_dir| {
                fs::remove_dir_all(git_dir).unwrap();
                fs::write(git_dir, "x").unwrap();
            },
        ),
        (
            "a stale ref lock",
            "`refs/remotes/origin/master.lock`",
            |git_dir| {
                fs::write(git_dir.join("refs/remotes/origin/master.lock"), "").unwrap();
            },
        ),
        ("a stale config lock", "`config.lock`", |git_dir| {
            fs::write(git_dir.join("config.lock"), "").unwrap();
        }),
        (
            "a corrupt ref",
            "`refs/remotes/origin/master` is corrupt",
            |git_dir| {
                fs::write(git_dir.join("refs/remotes/origin/master"), "garbage\n").unwrap();
            },
        ),
        ("missing objects", "are missing", |git_dir| {
            let objects = git_dir.join("objects");
            for entry in fs::read_dir(&objects).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == "pack" || name.len() == 2 {
                    for file in fs::read_dir(entry.path()).unwrap() {
                        fs::remove_file(file.unwrap().path()).unwrap();
                    }
                }
            }
        }),
        (
            "a missing blob of the tip",
            "of the tip's tree",
            |git_dir| {
                mark_crashed(git_dir);
                let blob = tip_blob(git_dir, "images/staging.json");
                unpack_all(git_dir);
                let hex = blob.to_string();
                fs::remove_file(git_dir.join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
            },
        ),
        (
            "a missing commit in the history",
            "are missing",
            |git_dir| {
                mark_crashed(git_dir);
                let repo = git2::Repository::open_bare(git_dir).unwrap();
                let tip = repo.refname_to_id("refs/remotes/origin/master").unwrap();
                let parent = repo.find_commit(tip).unwrap().parent_id(0).unwrap();
                drop(repo);
                unpack_all(git_dir);
                let hex = parent.to_string();
                fs::remove_file(git_dir.join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
            },
        ),
    ]
}

/// Leaves the marker a writer leaves when it dies holding the cache's lock: objects can only go
/// missing from the history in the middle of a write, and only then does opening read the
/// whole history to find them.
fn mark_crashed(git_dir: &Path) {
    fs::write(git_dir.with_extension("dirty"), "").unwrap();
}

/// The id of the file `file` at the tracking ref's tip.
fn tip_blob(git_dir: &Path, file: &str) -> git2::Oid {
    let repo = git2::Repository::open_bare(git_dir).unwrap();
    let tip = repo.refname_to_id("refs/remotes/origin/master").unwrap();
    repo.find_commit(tip)
        .unwrap()
        .tree()
        .unwrap()
        .get_path(Path::new(file))
        .unwrap()
        .id()
}

#[test]
fn a_cache_broken_while_closed_is_rebuilt_on_open() {
    let remote = Remote::new(Served::Daemon, FILES);
    for (breakage, diagnosis, break_it) in breakages() {
        let git_dir = remote.open().cache_path().to_owned();
        break_it(&git_dir);

        let mut repository = GitRepository::open(remote.options()).unwrap();
        let reason = repository.rebuilt_cache().unwrap_or_default();
        assert!(reason.contains(diagnosis), "{breakage}: {reason}");
        assert_eq!(
            repository.refresh().unwrap(),
            id(&remote.tip()),
            "{breakage}"
        );
        let tip = repository.tip().unwrap();
        let expected =
            cfgupdate_tests::try_git(&remote.bare, &["show", "master:images/staging.json"]).stdout;
        assert_eq!(
            repository
                .read_file(&tip, &path("images/staging.json"))
                .unwrap(),
            Some(expected),
            "{breakage}"
        );
        let outcome = repository
            .commit_and_push(
                &tip,
                &change(&[("images/staging.json", breakage)], &[], breakage),
            )
            .unwrap();
        assert!(matches!(outcome, PushOutcome::Pushed(_)), "{breakage}");
        assert!(
            GitRepository::open(remote.options())
                .unwrap()
                .rebuilt_cache()
                .is_none(),
            "{breakage}: a rebuilt cache is whole"
        );
    }
}

#[test]
fn a_writer_that_finished_leaves_no_crash_marker() {
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let tip = repository.refresh().unwrap();
    repository
        .commit_and_push(&tip, &change(&[("images/new.json", "{}\n")], &[], "Write"))
        .unwrap();
    let marker = repository.cache_path().with_extension("dirty");
    assert!(!marker.exists(), "{}", marker.display());
    drop(repository);
    assert!(
        GitRepository::open(remote.options())
            .unwrap()
            .rebuilt_cache()
            .is_none()
    );
}

#[test]
fn a_cache_broken_while_open_is_rebuilt_by_the_next_refresh() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    fs::write(
        repository
            .cache_path()
            .join("refs/remotes/origin/master.lock"),
        "",
    )
    .unwrap();

    assert_eq!(repository.refresh().unwrap(), id(&remote.tip()));
    let reason = repository.rebuilt_cache().unwrap();
    assert!(reason.contains("master.lock"), "{reason}");
}

#[test]
fn a_healthy_cache_is_kept() {
    let remote = Remote::new(Served::Path, FILES);
    let first = remote.open();
    let marker = first.cache_path().join("description");
    fs::write(&marker, "kept\n").unwrap();
    let again = GitRepository::open(remote.options()).unwrap();
    assert!(again.rebuilt_cache().is_none());
    assert_eq!(
        again.tip().unwrap(),
        first.tip().unwrap(),
        "no fetch needed"
    );
    assert_eq!(fs::read_to_string(marker).unwrap(), "kept\n");
}

const STATE_TRACKING: &str = "refs/cfgupdate-local/state/master";

/// Ways a crash can break the state's refs and objects in the cache.
fn state_breakages() -> Vec<Breakage> {
    vec![
        (
            "a stale state ref lock",
            "`refs/cfgupdate-local/state/master.lock`",
            |git_dir| {
                fs::write(git_dir.join(format!("{STATE_TRACKING}.lock")), "").unwrap();
            },
        ),
        (
            "a corrupt state ref",
            "`refs/cfgupdate-local/state/master` is corrupt",
            |git_dir| {
                fs::write(git_dir.join(STATE_TRACKING), "garbage\n").unwrap();
            },
        ),
        ("a missing state document", "of the tip's tree", |git_dir| {
            mark_crashed(git_dir);
            let repo = git2::Repository::open_bare(git_dir).unwrap();
            let state = repo.refname_to_id(STATE_TRACKING).unwrap();
            let tree = repo.find_commit(state).unwrap().tree().unwrap();
            let blob = tree.get_name("state.json").unwrap().id();
            drop(tree);
            drop(repo);
            unpack_all(git_dir);
            let hex = blob.to_string();
            fs::remove_file(git_dir.join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
        }),
        (
            "a missing commit in the state's history",
            "are missing",
            |git_dir| {
                mark_crashed(git_dir);
                let repo = git2::Repository::open_bare(git_dir).unwrap();
                let state = repo.refname_to_id(STATE_TRACKING).unwrap();
                let parent = repo.find_commit(state).unwrap().parent_id(0).unwrap();
                drop(repo);
                unpack_all(git_dir);
                let hex = parent.to_string();
                fs::remove_file(git_dir.join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
            },
        ),
    ]
}

#[test]
fn a_cache_whose_state_was_broken_is_rebuilt_and_the_state_fetched_again() {
    let remote = Remote::new(Served::Daemon, FILES);
    for (round, (breakage, diagnosis, break_it)) in state_breakages().into_iter().enumerate() {
        let mut repository = remote.open();
        // Two state commits, with a document no other round wrote: a parent to lose, and a
        // blob the branch does not share.
        for step in 0..2 {
            let parent = repository.state().unwrap().map(|state| state.commit);
            let content = format!("{{\"round\": {round}, \"step\": {step}}}\n");
            let outcome = repository
                .push_state(parent.as_ref(), content.as_bytes(), breakage)
                .unwrap();
            assert!(matches!(outcome, PushOutcome::Pushed(_)), "{breakage}");
        }
        let before = repository.state().unwrap().unwrap();
        let git_dir = repository.cache_path().to_owned();
        drop(repository);
        break_it(&git_dir);

        let mut repository = GitRepository::open(remote.options()).unwrap();
        let reason = repository.rebuilt_cache().unwrap_or_default();
        assert!(reason.contains(diagnosis), "{breakage}: {reason}");
        assert_eq!(repository.state().unwrap(), None, "{breakage}: emptied");
        repository.refresh().unwrap();
        assert_eq!(
            repository.state().unwrap(),
            Some(before.clone()),
            "{breakage}"
        );
        let outcome = repository
            .push_state(Some(&before.commit), breakage.as_bytes(), breakage)
            .unwrap();
        assert!(matches!(outcome, PushOutcome::Pushed(_)), "{breakage}");
        assert!(
            GitRepository::open(remote.options())
                .unwrap()
                .rebuilt_cache()
                .is_none(),
            "{breakage}: a rebuilt cache is whole"
        );
    }
}

#[test]
fn a_state_ref_lock_left_while_open_is_repaired_by_the_next_refresh() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let state = repository.push_state(None, b"{}", "State").unwrap();
    fs::write(
        repository
            .cache_path()
            .join(format!("{STATE_TRACKING}.lock")),
        "",
    )
    .unwrap();

    repository.refresh().unwrap();
    let reason = repository.rebuilt_cache().unwrap_or_default();
    assert!(reason.contains("state/master.lock"), "{reason}");
    assert_eq!(
        PushOutcome::Pushed(repository.state().unwrap().unwrap().commit),
        state
    );
}

#[test]
fn a_state_push_reads_nothing_of_the_branch() {
    // A state push used to walk the branch's whole tree too (libgit2 marks every advertised
    // ref the pushing repository holds); it now goes from a repository of the state's own
    // objects. Shown by a branch subtree missing from the cache: the state push still lands.
    let remote = Remote::new(Served::Daemon, FILES);
    let mut repository = remote.open();
    let tip = repository.refresh().unwrap();
    let git_dir = repository.cache_path().to_owned();
    drop(repository);
    unpack_all(&git_dir);
    let repo = git2::Repository::open_bare(&git_dir).unwrap();
    let root = repo
        .find_commit(git2::Oid::from_str(tip.as_str()).unwrap())
        .unwrap()
        .tree()
        .unwrap();
    let images = root.get_name("images").unwrap().id().to_string();
    drop(root);
    drop(repo);
    fs::remove_file(
        git_dir
            .join("objects")
            .join(&images[..2])
            .join(&images[2..]),
    )
    .unwrap();

    let mut repository = GitRepository::open(remote.options()).unwrap();
    for step in 0..2 {
        let parent = repository.state().unwrap().map(|state| state.commit);
        let content = format!("{{\"step\": {step}}}\n");
        let outcome = repository
            .push_state(parent.as_ref(), content.as_bytes(), "Record")
            .unwrap();
        assert!(matches!(outcome, PushOutcome::Pushed(_)), "{outcome:?}");
    }
    // Nothing is left beside the cache.
    let mut side = git_dir.as_os_str().to_owned();
    side.push(".state-push");
    assert!(!Path::new(&side).exists());
}
