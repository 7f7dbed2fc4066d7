//! Someone else who works on the config repository with the git CLI: the scripted person of
//! `cfgupdate_git::person` (the demo's Alice is one too), panicking where a test cannot go on.

use std::path::Path;

use cfgupdate_git::person::{self, Identity};
use tempfile::TempDir;

/// A person with their own clone of the remote, committing and pushing with the git CLI.
pub struct Person {
    inner: person::Person,
    // Dropped after `inner`: the clone lives in it.
    _dir: TempDir,
}

impl Person {
    /// Clones `branch` of `url` into a fresh directory; `name` signs the person's commits.
    pub fn clone(url: &str, branch: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let inner =
            person::Person::clone(url, branch, dir.path().join("clone"), Identity::named(name))
                .unwrap_or_else(|error| panic!("{name} cannot clone {url}: {error}"));
        Self { inner, _dir: dir }
    }

    /// The clone's work tree.
    pub fn dir(&self) -> &Path {
        self.inner.dir()
    }

    /// Runs `git args...` in the clone and returns its standard output, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        self.inner
            .git(args)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Writes `content` to `path` in the work tree.
    pub fn write(&self, path: &str, content: &str) {
        self.inner
            .write(path, content)
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// Removes `path` from the work tree.
    pub fn remove(&self, path: &str) {
        self.inner
            .remove(path)
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// Commits everything in the work tree and returns the new commit's id.
    pub fn commit(&self, message: &str) -> String {
        self.inner
            .commit(message)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Pushes the branch; when the remote has moved on, pulls with rebase and pushes again.
    /// Returns the commit the remote's branch then points at. Panics when the push is refused
    /// for another reason (a hook), without retrying.
    pub fn push(&self) -> String {
        self.inner.push().unwrap_or_else(|error| panic!("{error}"))
    }

    /// Fetches the branch and rebases the person's commits onto it.
    pub fn pull(&self) {
        self.inner.pull().unwrap_or_else(|error| panic!("{error}"));
    }

    /// Writes `files` (path, content), commits them with `message` and pushes; returns the
    /// commit the remote's branch then points at.
    pub fn commit_and_push(&self, files: &[(&str, &str)], message: &str) -> String {
        self.inner
            .commit_and_push(files.iter().copied(), message)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The commit the clone's `HEAD` points at.
    pub fn head(&self) -> String {
        self.inner.head().unwrap_or_else(|error| panic!("{error}"))
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
        let files = crate::git(&remote, &["ls-tree", "--name-only", "main"]);
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
