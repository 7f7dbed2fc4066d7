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
