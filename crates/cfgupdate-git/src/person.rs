//! A scripted person who works on a config repository with the git command-line tool, as the
//! people beside cfgupdate do: clones, edits files, commits and pushes, and pulls with rebase
//! when the branch moved. `cfgupdate demo` plays Alice with it and the test kit plays everyone
//! else; it is not used by cfgupdate's own reading and writing (that is libgit2).
//!
//! Every command ignores the user's and the system's git configuration and speaks English, so a
//! developer's `~/.gitconfig` can neither break it nor sign its commits, and git's messages can
//! be matched. Built with the `person` feature.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cfgupdate_core::{Classify, ErrorClass};

/// How many times [`Person::push`] pulls and pushes again by default before giving up: enough
/// to get through while an automation publishes as fast as it can.
pub const PUSH_ATTEMPTS: usize = 100;

/// Who makes a commit: the author and committer of everything a [`Person`] commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name, as git records it.
    pub name: String,
    /// The email, as git records it.
    pub email: String,
}

impl Identity {
    /// A person called `name` at `email`.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }

    /// A person called `name`, with an `example.com` email made from it (`Bob Smith` is
    /// `bob.smith@example.com`).
    pub fn named(name: &str) -> Self {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        Self::new(name, email)
    }
}

/// What went wrong while a person worked.
#[derive(Debug, thiserror::Error)]
pub enum PersonError {
    /// The git command-line tool could not be started.
    #[error("cannot run `git {command}` (the git command-line tool is needed): {source}")]
    Spawn {
        /// The arguments, joined by spaces.
        command: String,
        /// Why it could not start.
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("`git {command}` in {dir} failed ({status}): {stderr}")]
    Git {
        /// The arguments, joined by spaces.
        command: String,
        /// Where it ran.
        dir: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on its standard error, trimmed.
        stderr: String,
    },
    /// A file of the clone could not be read or written.
    #[error("cannot {what} {path}: {source}")]
    File {
        /// `read`, `write`, `remove`, `create` or `resolve`.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A path git must be given is not UTF-8.
    #[error("the path {path} is not UTF-8; choose a directory whose path is")]
    NotUtf8 {
        /// The path, shown lossily.
        path: String,
    },
    /// A push was refused for a reason other than a branch that moved (a hook, a protected
    /// branch): pulling again would not help, so it is not retried.
    #[error("the push was refused for another reason than a stale branch: {report}")]
    Refused {
        /// What git reported.
        report: String,
    },
    /// The branch kept moving: every push of [`Person::push`]'s attempts was stale.
    #[error("the push was still rejected after {attempts} attempts; the last time: {report}")]
    StillStale {
        /// How many pushes were tried.
        attempts: usize,
        /// What git reported the last time.
        report: String,
    },
}

impl Classify for PersonError {
    fn class(&self) -> ErrorClass {
        match self {
            PersonError::NotUtf8 { .. } => ErrorClass::Invalid,
            PersonError::Refused { .. } => ErrorClass::Declined,
            PersonError::StillStale { .. } => ErrorClass::Unavailable,
            PersonError::Spawn { .. } | PersonError::Git { .. } | PersonError::File { .. } => {
                ErrorClass::Failed
            }
        }
    }
}

/// A `git` command in `dir`, isolated from the user's and the system's configuration, never
/// prompting, speaking English, and starting no automatic maintenance: a person's clone lives
/// for minutes, and git would otherwise start `git maintenance run --auto` after every
/// commit, fetch and pull.
pub fn command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .args(["-c", "maintenance.auto=false"])
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    command
}

/// [`command`], as `identity` (author and committer) when given.
fn command_as(dir: &Path, identity: Option<&Identity>) -> Command {
    let mut command = command(dir);
    if let Some(identity) = identity {
        command
            .env("GIT_AUTHOR_NAME", &identity.name)
            .env("GIT_AUTHOR_EMAIL", &identity.email)
            .env("GIT_COMMITTER_NAME", &identity.name)
            .env("GIT_COMMITTER_EMAIL", &identity.email);
    }
    command
}

/// Runs `git args...` in `dir` (as `identity` when given) and returns what it did, whatever
/// its exit status.
pub fn try_git(
    dir: &Path,
    identity: Option<&Identity>,
    args: &[&str],
) -> Result<Output, PersonError> {
    command_as(dir, identity)
        .args(args)
        .output()
        .map_err(|source| PersonError::Spawn {
            command: args.join(" "),
            source,
        })
}

/// Runs `git args...` in `dir` (as `identity` when given) and returns its standard output,
/// trimmed; git's standard error is in the error when it fails.
pub fn git(dir: &Path, identity: Option<&Identity>, args: &[&str]) -> Result<String, PersonError> {
    let output = try_git(dir, identity, args)?;
    if !output.status.success() {
        return Err(PersonError::Git {
            command: args.join(" "),
            dir: dir.display().to_string(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Creates the bare repository `remote` with `branch` as its default branch. When `files`
/// (path, content) is not empty, the branch holds them in one commit by `identity` with
/// `message`, whose id is returned; otherwise the repository is empty and `None` is returned.
/// A relative `remote` is taken from the process's current directory.
pub fn create_remote<'a>(
    remote: &Path,
    branch: &str,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    identity: &Identity,
    message: &str,
) -> Result<Option<String>, PersonError> {
    // git runs in the parent directory and in a seed clone beside it, so the path it is given
    // must not depend on where it runs.
    let remote = &std::path::absolute(remote).map_err(|source| PersonError::File {
        what: "resolve",
        path: remote.display().to_string(),
        source,
    })?;
    let parent = remote.parent().unwrap_or(Path::new("/"));
    create_dir(parent)?;
    let remote_text = path_text(remote)?;
    git(
        parent,
        Some(identity),
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch",
            branch,
            remote_text,
        ],
    )?;
    // Nor after every push it receives, over any transport: the remote's own setting.
    git(remote, None, &["config", "receive.autoGC", "false"])?;
    let mut files = files.into_iter().peekable();
    if files.peek().is_none() {
        return Ok(None);
    }
    let seed = tempfile::Builder::new()
        .prefix(".seed-")
        .tempdir_in(parent)
        .map_err(|source| PersonError::File {
            what: "create",
            path: parent.display().to_string(),
            source,
        })?;
    let seed_dir = seed.path();
    git(
        seed_dir,
        Some(identity),
        &["init", "--quiet", "--initial-branch", branch, "."],
    )?;
    for (path, content) in files {
        write_file(seed_dir, path, content)?;
    }
    git(seed_dir, Some(identity), &["add", "--all"])?;
    git(
        seed_dir,
        Some(identity),
        &["commit", "--quiet", "--message", message],
    )?;
    let refspec = format!("HEAD:refs/heads/{branch}");
    git(
        seed_dir,
        Some(identity),
        &["push", "--quiet", remote_text, &refspec],
    )?;
    git(seed_dir, Some(identity), &["rev-parse", "HEAD"]).map(Some)
}

/// A person with their own clone of a remote's branch.
#[derive(Debug)]
pub struct Person {
    dir: PathBuf,
    branch: String,
    identity: Identity,
    attempts: usize,
}

impl Person {
    /// Clones `branch` of `url` into `dir` (which must not exist or be empty) for `identity`.
    pub fn clone(
        url: &str,
        branch: &str,
        dir: PathBuf,
        identity: Identity,
    ) -> Result<Self, PersonError> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        create_dir(parent)?;
        git(
            parent,
            Some(&identity),
            &[
                "clone",
                "--quiet",
                "--branch",
                branch,
                url,
                path_text(&dir)?,
            ],
        )?;
        // Also in the clone's own configuration, so that git run there by anyone else (a test
        // running `git commit` in the directory) commits as this person too.
        git(&dir, None, &["config", "user.name", &identity.name])?;
        git(&dir, None, &["config", "user.email", &identity.email])?;
        Ok(Self {
            dir,
            branch: branch.to_owned(),
            identity,
            attempts: PUSH_ATTEMPTS,
        })
    }

    /// The same person, who gives up after `attempts` stale pushes (at least one).
    pub fn with_push_attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The clone's work tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Who this person commits as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Runs `git args...` in the clone as this person and returns its standard output, trimmed.
    pub fn git(&self, args: &[&str]) -> Result<String, PersonError> {
        git(&self.dir, Some(&self.identity), args)
    }

    /// Writes `content` to `path` (relative to the work tree), creating its directories.
    pub fn write(&self, path: &str, content: &str) -> Result<(), PersonError> {
        write_file(&self.dir, path, content)
    }

    /// Removes `path` (relative to the work tree).
    pub fn remove(&self, path: &str) -> Result<(), PersonError> {
        let full = self.dir.join(path);
        fs::remove_file(&full).map_err(|source| PersonError::File {
            what: "remove",
            path: full.display().to_string(),
            source,
        })
    }

    /// Every tracked file, by path, with its content.
    pub fn files(&self) -> Result<BTreeMap<String, String>, PersonError> {
        let listing = self.git(&["ls-files", "-z"])?;
        let mut files = BTreeMap::new();
        for path in listing.split('\0').filter(|path| !path.is_empty()) {
            let full = self.dir.join(path);
            let text = fs::read_to_string(&full).map_err(|source| PersonError::File {
                what: "read",
                path: full.display().to_string(),
                source,
            })?;
            files.insert(path.to_owned(), text);
        }
        Ok(files)
    }

    /// Makes the work tree hold exactly `files`: writes what changed and removes the tracked
    /// files that are not among them.
    pub fn replace_files(&self, files: &BTreeMap<String, String>) -> Result<(), PersonError> {
        for path in self.files()?.into_keys() {
            if !files.contains_key(&path) {
                self.remove(&path)?;
            }
        }
        for (path, content) in files {
            self.write(path, content)?;
        }
        Ok(())
    }

    /// Commits everything in the work tree with `message`; returns the new commit's id.
    pub fn commit(&self, message: &str) -> Result<String, PersonError> {
        self.git(&["add", "--all"])?;
        self.git(&["commit", "--quiet", "--message", message])?;
        self.head()
    }

    /// Pushes the branch; when the remote has moved on, pulls with rebase and pushes again, as
    /// a person would, pausing a little between tries so as not to retry in lockstep with an
    /// automation. Returns the commit the remote's branch then points at. A push refused for
    /// another reason (a hook) is not retried.
    pub fn push(&self) -> Result<String, PersonError> {
        let target = format!("HEAD:refs/heads/{}", self.branch);
        let mut report = String::new();
        for attempt in 0..self.attempts {
            let output = try_git(
                &self.dir,
                Some(&self.identity),
                &["push", "--porcelain", "origin", &target],
            )?;
            if output.status.success() {
                return self.head();
            }
            let porcelain = String::from_utf8_lossy(&output.stdout);
            report = format!(
                "{}{}",
                porcelain,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            // Stale: refused as not a fast-forward, or the server lost the race for the
            // branch's lock to another push arriving at the same moment.
            let stale = porcelain.lines().any(|line| {
                line.starts_with('!')
                    && (line.contains("[rejected]") || line.contains("failed to update ref"))
            });
            if !stale {
                return Err(PersonError::Refused { report });
            }
            let pause = 5 + (u64::from(std::process::id()) + attempt as u64 * 7919) % 40;
            std::thread::sleep(Duration::from_millis(pause));
            self.pull()?;
        }
        Err(PersonError::StillStale {
            attempts: self.attempts,
            report,
        })
    }

    /// Fetches the branch and rebases this person's commits onto it.
    pub fn pull(&self) -> Result<(), PersonError> {
        self.git(&["pull", "--quiet", "--rebase", "origin", &self.branch])
            .map(drop)
    }

    /// Writes `files` (path, content), commits them with `message` and pushes; returns the
    /// commit the remote's branch then points at.
    pub fn commit_and_push<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        message: &str,
    ) -> Result<String, PersonError> {
        for (path, content) in files {
            self.write(path, content)?;
        }
        self.commit(message)?;
        self.push()
    }

    /// The commit the clone's `HEAD` points at.
    pub fn head(&self) -> Result<String, PersonError> {
        self.git(&["rev-parse", "HEAD"])
    }
}

fn write_file(dir: &Path, path: &str, content: &str) -> Result<(), PersonError> {
    let full = dir.join(path);
    if fs::read_to_string(&full).is_ok_and(|old| old == content) {
        return Ok(());
    }
    if let Some(parent) = full.parent() {
        create_dir(parent)?;
    }
    fs::write(&full, content).map_err(|source| PersonError::File {
        what: "write",
        path: full.display().to_string(),
        source,
    })
}

fn create_dir(dir: &Path) -> Result<(), PersonError> {
    fs::create_dir_all(dir).map_err(|source| PersonError::File {
        what: "create",
        path: dir.display().to_string(),
        source,
    })
}

fn path_text(path: &Path) -> Result<&str, PersonError> {
    path.to_str().ok_or_else(|| PersonError::NotUtf8 {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alice's clone of `remote`'s `main`, in `root`.
    fn alice(root: &tempfile::TempDir, remote: &Path) -> Person {
        Person::clone(
            remote.to_str().expect("a UTF-8 path"),
            "main",
            root.path().join("alice"),
            Identity::named("Alice"),
        )
        .expect("Alice's clone")
    }

    fn remote_with(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().expect("a temporary directory");
        let remote = root.path().join("config.git");
        create_remote(
            &remote,
            "main",
            files.iter().copied(),
            &Identity::named("Setup"),
            "Initial configuration",
        )
        .expect("the remote");
        (root, remote)
    }

    #[test]
    fn a_person_whose_push_is_stale_rebases_and_keeps_both_changes() {
        let (root, remote) = remote_with(&[("a.txt", "a\n")]);
        let url = remote.to_str().expect("a UTF-8 path");
        let alice = Person::clone(
            url,
            "main",
            root.path().join("alice"),
            Identity::named("Alice"),
        )
        .expect("Alice's clone");
        let bob = Person::clone(url, "main", root.path().join("bob"), Identity::named("Bob"))
            .expect("Bob's clone");
        alice
            .commit_and_push([("alice.txt", "hers\n")], "Alice's change")
            .expect("Alice pushes");
        let tip = bob
            .commit_and_push([("bob.txt", "his\n")], "Bob's change")
            .expect("Bob pushes after a pull");
        assert_eq!(
            git(&remote, None, &["rev-parse", "main"]).expect("rev-parse"),
            tip
        );
        assert_eq!(
            git(&remote, None, &["ls-tree", "--name-only", "main"]).expect("ls-tree"),
            "a.txt\nalice.txt\nbob.txt"
        );
        assert_eq!(
            git(&remote, None, &["log", "-1", "--format=%an <%ae>", "main"]).expect("log"),
            "Bob <bob@example.com>"
        );
    }

    #[test]
    fn a_push_declined_by_a_hook_is_an_error_and_not_retried() {
        let (root, remote) = remote_with(&[("a.txt", "a\n")]);
        let hook = remote.join("hooks/pre-receive");
        fs::write(&hook, "#!/bin/sh\necho declined >> \"$0.log\"\nexit 1\n").expect("hook");
        let mut permissions = fs::metadata(&hook).expect("metadata").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        fs::set_permissions(&hook, permissions).expect("chmod");
        let alice = alice(&root, &remote);
        let error = alice
            .commit_and_push([("a.txt", "b\n")], "Change a")
            .expect_err("the hook declines");
        assert!(matches!(error, PersonError::Refused { .. }), "{error}");
        assert_eq!(error.class(), ErrorClass::Declined);
        let log = fs::read_to_string(remote.join("hooks/pre-receive.log")).expect("hook log");
        assert_eq!(log.lines().count(), 1, "tried once: {log}");
    }

    #[test]
    fn replacing_the_files_removes_the_tracked_ones_left_out() {
        let (root, remote) = remote_with(&[("a.txt", "a\n"), ("dir/b.txt", "b\n")]);
        let alice = alice(&root, &remote);
        let mut files = alice.files().expect("files");
        files.remove("dir/b.txt");
        files.insert("c.txt".to_owned(), "c\n".to_owned());
        alice.replace_files(&files).expect("replace");
        alice.commit("Replace").expect("commit");
        alice.push().expect("push");
        assert_eq!(
            git(&remote, None, &["ls-tree", "-r", "--name-only", "main"]).expect("ls-tree"),
            "a.txt\nc.txt"
        );
    }

    #[test]
    fn neither_a_commit_nor_the_push_it_makes_starts_automatic_maintenance() {
        let (root, remote) = remote_with(&[("a.txt", "a\n")]);
        let alice = alice(&root, &remote);
        alice.write("a.txt", "b\n").expect("write");
        // git traces every command it starts, the remote's receive-pack among them.
        let trace = root.path().join("git-trace.log");
        let commit: &[&str] = &["commit", "--quiet", "--all", "--message", "Change a"];
        for args in [commit, &["push", "--quiet", "origin", "main"]] {
            let output = command_as(&root.path().join("alice"), Some(alice.identity()))
                .env("GIT_TRACE", &trace)
                .args(args)
                .output()
                .expect("git runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "git {args:?}: {stderr}");
        }
        let traced = fs::read_to_string(&trace).expect("the trace");
        assert!(
            traced.contains("receive-pack"),
            "the push was traced: {traced}"
        );
        assert!(!traced.contains("maintenance"), "{traced}");
    }

    #[test]
    fn a_remote_named_by_a_relative_path_is_made_there_and_holds_the_files() {
        // A path relative to the process's directory, below it (the tests cannot change the
        // directory: they share it); removed with the temporary directory.
        let root = tempfile::Builder::new()
            .prefix(".person-test-")
            .tempdir_in(".")
            .expect("a temporary directory here");
        let name = root.path().file_name().expect("a name").to_owned();
        let relative = Path::new(&name).join("remotes/config.git");
        let commit = create_remote(
            &relative,
            "main",
            [("a.txt", "a\n")],
            &Identity::named("Setup"),
            "Initial configuration",
        )
        .expect("the remote");
        let made = root.path().join("remotes/config.git");
        assert_eq!(
            git(&made, None, &["rev-parse", "main"]).ok(),
            commit,
            "the remote is where the relative path leads"
        );
    }

    #[test]
    fn an_empty_remote_has_no_commit() {
        let root = tempfile::tempdir().expect("a temporary directory");
        let remote = root.path().join("empty.git");
        let commit = create_remote(&remote, "main", [], &Identity::named("Setup"), "unused")
            .expect("the remote");
        assert_eq!(commit, None);
        assert!(remote.join("HEAD").exists());
    }
}
