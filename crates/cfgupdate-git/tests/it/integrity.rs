//! A corrupt object is detected, never used: in the cache, and in what a remote sends. The
//! adapter leaves libgit2's hash verification on for the whole process, pushes included.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};

use cfgupdate_core::{ConfigRepository, PushOutcome, RepositoryErrorKind};
use cfgupdate_git::GitRepository;
use common::{BOTH, Remote, Served, change, id, path, unpack_all};

const FILES: &[(&str, &str)] = &[
    ("cfgupdate.toml", "[[wave]]\n"),
    ("images/staging.json", "{\"api\": \"a\"}\n"),
];

/// Replaces the loose object `object` of the repository at `git_dir` by a well-formed loose
/// object of other content, as a bad disk or a hostile writer would: it still inflates,
/// but no longer hashes to its name.
fn corrupt_loose_object(git_dir: &Path, object: &str) {
    let scratch = tempfile::tempdir().unwrap();
    cfgupdate_tests::git(scratch.path(), &["init", "-q", "--bare"]);
    let other = tempfile::NamedTempFile::new().unwrap();
    fs::write(other.path(), "{\"api\": \"evil\"}\n").unwrap();
    let evil = cfgupdate_tests::git(
        scratch.path(),
        &["hash-object", "-w", other.path().to_str().unwrap()],
    );
    let target = loose_path(git_dir, object);
    assert!(
        target.exists(),
        "{object} is not loose in {}",
        git_dir.display()
    );
    fs::remove_file(&target).unwrap();
    fs::copy(loose_path(scratch.path(), &evil), &target).unwrap();
}

fn loose_path(git_dir: &Path, object: &str) -> PathBuf {
    git_dir
        .join("objects")
        .join(&object[..2])
        .join(&object[2..])
}

#[test]
fn a_corrupt_object_in_the_cache_is_an_error_after_a_push_not_other_content() {
    let remote = Remote::new(Served::Path, FILES);
    let mut repository = remote.open();
    let parent = repository.tip().unwrap();
    let publish = change(
        &[("images/staging.json", "{\"api\": \"b\"}\n")],
        &[],
        "Publish",
    );
    // A push first: the stand-in trees it once needed turned verification off from here on.
    let PushOutcome::Pushed(commit) = repository.commit_and_push(&parent, &publish).unwrap() else {
        panic!("rejected");
    };
    // The blob the push wrote is loose in the cache.
    let blob = remote.git(&[
        "rev-parse",
        &format!("{}:images/staging.json", commit.as_str()),
    ]);
    // A fresh handle, so nothing is served from libgit2's object cache in memory.
    let cache = repository.cache_path().to_owned();
    drop(repository);
    corrupt_loose_object(&cache, &blob);
    let repository = GitRepository::open(remote.options()).unwrap();

    let error = repository
        .read_file(&commit, &path("images/staging.json"))
        .unwrap_err();

    assert_eq!(error.kind, RepositoryErrorKind::Failed, "{error}");
    assert!(error.message.contains("images/staging.json"), "{error}");
    assert!(error.message.contains("is corrupt"), "{error}");
    assert!(error.message.contains("hash mismatch"), "{error}");
    assert_eq!(
        repository
            .read_file(&id(&remote.initial), &path("images/staging.json"))
            .unwrap(),
        Some(b"{\"api\": \"a\"}\n".to_vec()),
        "the rest of the cache still reads"
    );
}

#[test]
fn a_corrupt_object_a_remote_sends_is_never_read_as_the_file() {
    let remote = Remote::new(Served::Daemon, FILES);
    // The kit's remote received its first commit as loose objects; the daemon's
    // pack-objects sends what the file holds without hashing it again.
    let blob = remote.git(&["rev-parse", "master:images/staging.json"]);
    corrupt_loose_object(&remote.bare, &blob);

    let mut repository = GitRepository::open(remote.options()).unwrap();
    let fetched = repository.refresh();
    let read = fetched
        .as_ref()
        .ok()
        .map(|tip| repository.read_file(tip, &path("images/staging.json")));
    match (fetched, read) {
        // Refused while fetching: the pack did not hold what the tree names.
        (Err(error), _) => assert!(!error.message.is_empty()),
        // Or fetched without it: reading it is an error, not the other content.
        (Ok(_), Some(Err(error))) => assert!(
            error.message.contains("incomplete or corrupt pack"),
            "{error}"
        ),
        (Ok(_), read) => panic!("the corrupt object was used: {read:?}"),
    }
}

#[test]
fn a_corrupt_directory_a_push_reads_is_an_error_and_the_remote_keeps_its_branch() {
    // A push reads the directories beside the ones it changes (libgit2 looks each entry of a
    // new tree up), and nothing below them: the outline it hides stands for the rest.
    const TREES: &[(&str, &str)] = &[
        ("cfgupdate.toml", "[[wave]]\n"),
        ("images/staging.json", "{\"api\": \"a\"}\n"),
        ("apps/one/values.json", "{}\n"),
    ];
    for served in BOTH {
        let remote = Remote::new(served, TREES);
        let repository = remote.open();
        let parent = repository.tip().unwrap();
        let cache = repository.cache_path().to_owned();
        drop(repository);
        unpack_all(&cache);
        let apps = cfgupdate_tests::git(&cache, &["rev-parse", &format!("{parent}:apps")]);
        corrupt_loose_object(&cache, &apps);
        let mut repository = GitRepository::open(remote.options()).unwrap();

        let error = repository
            .commit_and_push(
                &parent,
                &change(
                    &[("images/staging.json", "{\"api\": \"b\"}\n")],
                    &[],
                    "Publish",
                ),
            )
            .unwrap_err();

        assert!(
            error.message.contains("hash mismatch"),
            "{served:?}: {error}"
        );
        assert_eq!(remote.tip(), remote.initial, "{served:?}");
        assert!(!repository.is_fresh());
    }
}
