//! What the integration tests share: a remote to talk to, and a cfgupdate cache of it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cfgupdate_core::{Change, CommitMessage, FileChange};
use cfgupdate_core::{CommitId, RepoPath};
use cfgupdate_git::{Author, Branch, GitOptions, GitRepository, RemoteUrl};
use cfgupdate_tests::{GitDaemon, Person};
use tempfile::TempDir;

pub const BRANCH: &str = "master";

/// How the remote is reached.
#[derive(Debug, Clone, Copy)]
pub enum Served {
    /// Through a real `git daemon`, over `git://`.
    Daemon,
    /// As a local path.
    Path,
}

/// Both ways, for scenarios that must hold whatever the transport.
pub const BOTH: [Served; 2] = [Served::Daemon, Served::Path];

/// A bare remote, how it is served, and a cache directory for cfgupdate.
pub struct Remote {
    /// Kept alive for as long as the remote is used; `None` for a local path.
    pub daemon: Option<GitDaemon>,
    /// Holds the remote when there is no daemon.
    _dir: Option<TempDir>,
    /// The bare repository.
    pub bare: PathBuf,
    /// What cfgupdate and people use to reach it.
    pub url: String,
    /// The first commit.
    pub initial: String,
    /// Where cfgupdate keeps its cache.
    pub cache: TempDir,
}

impl Remote {
    /// A remote whose branch holds `files`, served as `served`.
    pub fn new(served: Served, files: &[(&str, &str)]) -> Self {
        let cache = tempfile::tempdir().unwrap();
        match served {
            Served::Daemon => {
                let daemon = GitDaemon::start().unwrap();
                let bare = daemon.create_remote("config.git", BRANCH, files);
                let initial = if files.is_empty() {
                    String::new()
                } else {
                    cfgupdate_tests::rev_parse(&bare, BRANCH)
                };
                let url = daemon.url("config.git");
                Self {
                    daemon: Some(daemon),
                    _dir: None,
                    bare,
                    url,
                    initial,
                    cache,
                }
            }
            Served::Path => {
                let dir = tempfile::tempdir().unwrap();
                let bare = dir.path().join("config.git");
                let initial = cfgupdate_tests::create_bare_remote(&bare, BRANCH, files);
                let url = bare.to_str().unwrap().to_owned();
                Self {
                    daemon: None,
                    _dir: Some(dir),
                    bare,
                    url,
                    initial,
                    cache,
                }
            }
        }
    }

    /// The options cfgupdate would be given for this remote.
    pub fn options(&self) -> GitOptions {
        options(&self.url, self.cache.path())
    }

    /// A cfgupdate repository on this remote, opened and refreshed.
    pub fn open(&self) -> GitRepository {
        use cfgupdate_core::ConfigRepository;
        let mut repository = GitRepository::open(self.options()).unwrap();
        repository.refresh().unwrap();
        repository
    }

    /// A second cfgupdate repository on this remote, with a cache of its own (another
    /// replica), opened and refreshed.
    pub fn open_other(remote: &Remote) -> GitRepository {
        use cfgupdate_core::ConfigRepository;
        let cache = remote.cache.path().join("other");
        let mut repository = GitRepository::open(options(&remote.url, &cache)).unwrap();
        repository.refresh().unwrap();
        repository
    }

    /// Someone else with a clone of the remote.
    pub fn person(&self, name: &str) -> Person {
        Person::clone(&self.url, BRANCH, name)
    }

    /// `git args...` in the bare remote.
    pub fn git(&self, args: &[&str]) -> String {
        cfgupdate_tests::git(&self.bare, args)
    }

    /// The commit the remote's branch points at.
    pub fn tip(&self) -> String {
        cfgupdate_tests::rev_parse(&self.bare, BRANCH)
    }
}

/// Options for `url` on the branch [`BRANCH`], cached under `cache`.
pub fn options(url: &str, cache: &Path) -> GitOptions {
    GitOptions::new(
        RemoteUrl::parse(url).unwrap(),
        Branch::parse(BRANCH).unwrap(),
        cache,
    )
    .with_author(Author::new("cfgupdate test", "cfgupdate@example.com").unwrap())
}

pub fn id(text: &str) -> CommitId {
    CommitId::parse(text).unwrap()
}

pub fn path(text: &str) -> RepoPath {
    RepoPath::parse(text).unwrap()
}

/// A change writing `writes` (path, content) and deleting `deletes`.
pub fn change(writes: &[(&str, &str)], deletes: &[&str], subject: &str) -> Change {
    let mut files = BTreeMap::new();
    for (file, content) in writes {
        files.insert(path(file), FileChange::Write(content.as_bytes().to_vec()));
    }
    for file in deletes {
        files.insert(path(file), FileChange::Delete);
    }
    Change {
        files,
        message: CommitMessage {
            subject: subject.to_owned(),
            body: String::new(),
            trailers: vec![
                ("Cfgupdate-Action".to_owned(), "publish".to_owned()),
                ("Cfgupdate-Wave".to_owned(), "staging".to_owned()),
            ],
        },
    }
}

/// Turns every pack of the cache into loose objects, so single objects can be removed.
pub fn unpack_all(git_dir: &Path) {
    let outside = tempfile::tempdir().unwrap();
    let pack_dir = git_dir.join("objects/pack");
    for entry in std::fs::read_dir(&pack_dir).unwrap() {
        let file = entry.unwrap().path();
        let moved = outside.path().join(file.file_name().unwrap());
        std::fs::rename(&file, &moved).unwrap();
    }
    for entry in std::fs::read_dir(outside.path()).unwrap() {
        let pack = entry.unwrap().path();
        if pack.extension().is_some_and(|ext| ext == "pack") {
            // unpack-objects skips objects the repository has: the pack is moved out first.
            let status = std::process::Command::new("git")
                .args(["unpack-objects", "-q"])
                .env("GIT_DIR", git_dir)
                .stdin(std::fs::File::open(&pack).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}

/// Someone else moves the remote's ref `name` (in the bare repository `bare`, as another
/// replica's or a person's push would) to a new commit on top of it with the same tree.
pub fn move_behind(bare: &Path, name: &str, subject: &str) -> String {
    let old = cfgupdate_tests::git(bare, &["rev-parse", name]);
    let new = commit_on(bare, name, subject);
    cfgupdate_tests::git(bare, &["update-ref", name, &new, &old]);
    new
}

/// Who writes the commits made in the bare remote.
const IDENTITY: [&str; 4] = [
    "-c",
    "user.name=Someone",
    "-c",
    "user.email=someone@example.com",
];

/// A commit on top of the remote's `name` with the same tree, made in `bare` without moving
/// anything.
pub fn commit_on(bare: &Path, name: &str, subject: &str) -> String {
    let old = cfgupdate_tests::git(bare, &["rev-parse", name]);
    let tree = format!("{old}^{{tree}}");
    cfgupdate_tests::git(
        bare,
        &[
            IDENTITY[0],
            IDENTITY[1],
            IDENTITY[2],
            IDENTITY[3],
            "commit-tree",
            &tree,
            "-p",
            &old,
            "-m",
            subject,
        ],
    )
}

/// Makes the next push that reaches `bare`'s `receive-pack` find its ref `name` moved to
/// `value` after it advertised the refs and before it updates them: its `pre-receive` hook
/// moves it, as another replica's push landing in that window would.
pub fn race_inside_next_push(bare: &Path, name: &str, value: &str) {
    cfgupdate_tests::install_hook(
        bare,
        "pre-receive",
        "#!/bin/sh\ncat >/dev/null\nif [ -f race ]; then\n  read -r name value < race\n  rm -f race\n  env -u GIT_QUARANTINE_PATH git update-ref \"$name\" \"$value\"\nfi\n",
    );
    std::fs::write(bare.join("race"), format!("{name} {value}\n")).unwrap();
}

/// What `fast_forward_with_state` comes to on `repository` (opened on `bare`'s remote).
///
/// The state or the main branch is moved before the push, then (with `raced`) inside it,
/// between the advertisement and the update (`bare` must then be served by `receive-pack`).
/// With the state moved, nothing lands, the main branch included; with the main branch
/// moved, the state does not land either when the remote takes atomic pushes (`atomic`),
/// and lands alone (two pushes in order) when it does not. With both current, both land.
pub fn fast_forward_with_state_lands_both_or_neither(
    repository: &mut GitRepository,
    bare: &Path,
    raced: bool,
    atomic: bool,
) {
    use cfgupdate_core::{ConfigRepository, PairOutcome, PushOutcome};
    let state_ref = format!("refs/cfgupdate/state/{BRANCH}");
    let head = format!("refs/heads/{BRANCH}");
    let remote = |name: &str| cfgupdate_tests::git(bare, &["rev-parse", name]);
    let first = repository.push_state(None, b"zero", "Zero").unwrap();
    assert!(matches!(first, PushOutcome::Pushed(_)), "{first:?}");
    // Moved before the push, then (with `raced`) inside it.
    let mut made = 0;
    for inside in [false, true] {
        if inside && !raced {
            break;
        }
        for (name, subject) in [
            (&state_ref, "Another replica's state"),
            (&head, "A person's commit"),
        ] {
            let main = repository.refresh().unwrap();
            let state = repository.state().unwrap().unwrap().commit;
            made += 1;
            let target = repository
                .create_commit(
                    &main,
                    &change(
                        &[("images/staging.json", &format!("{made}\n"))],
                        &[],
                        "Auto",
                    ),
                )
                .unwrap();
            let auto = repository.refresh_side("auto").unwrap();
            assert_eq!(
                repository.set_side("auto", auto.as_ref(), &target).unwrap(),
                PushOutcome::Pushed(target.clone())
            );
            let (state_was, head_was) = (remote(&state_ref), remote(&head));
            let moved = if inside {
                let moved = commit_on(bare, name, subject);
                race_inside_next_push(bare, name, &moved);
                moved
            } else {
                move_behind(bare, name, subject)
            };
            let outcome = repository
                .fast_forward_with_state(&main, &target, Some(&state), b"mine", "Mine")
                .unwrap();
            let context = format!("{name} moved (inside the push: {inside})");
            assert!(
                !bare.join("race").exists(),
                "{context}: the hook did not run"
            );
            // The main branch never moves to `target` here.
            if name == &head {
                assert_eq!(remote(&head), moved, "{context}");
            } else {
                assert_eq!(remote(&head), head_was, "{context}: {outcome:?}");
                assert_eq!(remote(&state_ref), moved, "{context}");
            }
            match outcome {
                PairOutcome::Rejected if name == &head => {
                    assert_eq!(remote(&state_ref), state_was, "{context}");
                }
                PairOutcome::Rejected => {}
                // Only without an atomic push, and only for a moved main branch: the state's
                // own push landed before.
                PairOutcome::StateOnly(landed) if !atomic && name == &head => {
                    assert_eq!(remote(&state_ref), landed.as_str(), "{context}");
                }
                other => panic!("{context}: {other:?}"),
            }
        }
    }

    // Both current: both land.
    let main = repository.refresh().unwrap();
    let state = repository.state().unwrap().unwrap().commit;
    let second = repository
        .create_commit(
            &main,
            &change(&[("images/staging.json", "2\n")], &[], "Second"),
        )
        .unwrap();
    let auto = repository.refresh_side("auto").unwrap();
    assert_eq!(
        repository.set_side("auto", auto.as_ref(), &second).unwrap(),
        PushOutcome::Pushed(second.clone())
    );
    let outcome = repository
        .fast_forward_with_state(&main, &second, Some(&state), b"accepted", "Accept")
        .unwrap();
    let PairOutcome::Pushed { commit, state } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(commit, second);
    assert_eq!(remote(&head), second.as_str());
    assert_eq!(remote(&state_ref), state.as_str());
    assert_eq!(repository.tip().unwrap(), second);
    assert_eq!(repository.state().unwrap().unwrap().content, b"accepted");
}
