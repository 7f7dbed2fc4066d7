//! Someone else who works on the config repository with the git CLI.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use crate::git::{git, try_git};

/// How many times a person pulls and pushes again before giving up.
const PUSH_ATTEMPTS: usize = 5;

/// A person with their own clone of the remote, committing and pushing with the git CLI.
pub struct Person {
    dir: TempDir,
    branch: String,
}

impl Person {
    /// Clones `branch` of `url` into a fresh directory; `name` signs the person's commits.
    pub fn clone(url: &str, branch: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        git(
            dir.path(),
            &["clone", "--quiet", "--branch", branch, url, "."],
        );
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        git(dir.path(), &["config", "user.name", name]);
        git(dir.path(), &["config", "user.email", &email]);
        Self {
            dir,
            branch: branch.to_owned(),
        }
    }

    /// The clone's work tree.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `git args...` in the clone and returns its standard output, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        git(self.dir.path(), args)
    }

    /// Writes `content` to `path` in the work tree.
    pub fn write(&self, path: &str, content: &str) {
        let file = self.dir.path().join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, content).unwrap();
    }

    /// Removes `path` from the work tree.
    pub fn remove(&self, path: &str) {
        fs::remove_file(self.dir.path().join(path)).unwrap();
    }

    /// Commits everything in the work tree and returns the new commit's id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", message]);
        self.head()
    }

    /// Pushes the branch; when the remote has moved on, pulls with rebase and pushes again.
    /// Returns the commit the remote's branch then points at.
    pub fn push(&self) -> String {
        let target = format!("HEAD:refs/heads/{}", self.branch);
        for _ in 0..PUSH_ATTEMPTS {
            let output = try_git(self.dir.path(), &["push", "--porcelain", "origin", &target]);
            if output.status.success() {
                return self.head();
            }
            let report = String::from_utf8_lossy(&output.stdout);
            let stale = report
                .lines()
                .any(|line| line.starts_with('!') && line.contains("[rejected]"));
            if !stale {
                panic!(
                    "push was refused for another reason than a stale branch: {report}{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            self.pull();
        }
        panic!("push was still rejected after {PUSH_ATTEMPTS} attempts");
    }

    /// Fetches the branch and rebases the person's commits onto it.
    pub fn pull(&self) {
        self.git(&["pull", "--quiet", "--rebase", "origin", &self.branch]);
    }

    /// Writes `files` (path, content), commits them with `message` and pushes; returns the
    /// commit the remote's branch then points at.
    pub fn commit_and_push(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            self.write(path, content);
        }
        self.commit(message);
        self.push()
    }

    /// The commit the clone's `HEAD` points at.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_whose_push_is_stale_rebases_and_keeps_both_changes() {
        let remotes = tempfile::tempdir().unwrap();
        let remote = remotes.path().join("config.git");
        crate::create_bare_remote(&remote, "main", &[("a.txt", "a\n")]);
        let url = remote.to_str().unwrap();
        let alice = Person::clone(url, "main", "Alice");
        let bob = Person::clone(url, "main", "Bob");
        alice.commit_and_push(&[("alice.txt", "hers\n")], "Alice's change");
        let tip = bob.commit_and_push(&[("bob.txt", "his\n")], "Bob's change");

        assert_eq!(crate::rev_parse(&remote, "main"), tip);
        let files = git(&remote, &["ls-tree", "--name-only", "main"]);
        assert_eq!(files, "a.txt\nalice.txt\nbob.txt");
    }

    #[test]
    #[should_panic(expected = "another reason")]
    fn a_push_declined_by_a_hook_is_not_retried() {
        let remotes = tempfile::tempdir().unwrap();
        let remote = remotes.path().join("config.git");
        crate::create_bare_remote(&remote, "main", &[("a.txt", "a\n")]);
        crate::install_hook(&remote, "pre-receive", "#!/bin/sh\nexit 1\n");
        let alice = Person::clone(remote.to_str().unwrap(), "main", "Alice");
        alice.commit_and_push(&[("a.txt", "b\n")], "Change a");
    }
}
