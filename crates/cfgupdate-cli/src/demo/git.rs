//! The git CLI, as a person uses it: to create the throwaway remote, and to make a hand edit
//! that is pushed like any other. The user's and the system's git configuration are ignored,
//! so a developer's `~/.gitconfig` can neither break the demo nor sign its commits.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::example::BRANCH;
use crate::failure::Failure;

/// Someone who commits.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    /// Their name.
    pub name: &'static str,
    /// Their email.
    pub email: &'static str,
}

/// Runs `git args` in `dir` as `person`; returns its stdout, trimmed.
pub fn git(dir: &Path, person: Person, args: &[&str]) -> Result<String, Failure> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", person.name)
        .env("GIT_AUTHOR_EMAIL", person.email)
        .env("GIT_COMMITTER_NAME", person.name)
        .env("GIT_COMMITTER_EMAIL", person.email)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|error| {
            Failure::operational(format!(
                "cannot run `git {}` (the demo needs the git command-line tool): {error}",
                args.join(" ")
            ))
        })?;
    if !output.status.success() {
        return Err(Failure::operational(format!(
            "`git {}` in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Creates the bare repository `remote` whose branch holds `files` in one commit made by
/// `person`, and returns that commit's id.
pub fn create_remote(
    remote: &Path,
    files: &BTreeMap<String, String>,
    person: Person,
    message: &str,
) -> Result<String, Failure> {
    let parent = remote.parent().unwrap_or(Path::new("."));
    let seed = parent.join("seed");
    create_dir(&seed)?;
    let remote_text = path_text(remote)?;
    git(
        parent,
        person,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch",
            BRANCH,
            &remote_text,
        ],
    )?;
    git(
        &seed,
        person,
        &["init", "--quiet", "--initial-branch", BRANCH],
    )?;
    write_files(&seed, files)?;
    git(&seed, person, &["add", "--all"])?;
    git(&seed, person, &["commit", "--quiet", "--message", message])?;
    git(&seed, person, &["push", "--quiet", &remote_text, BRANCH])?;
    let commit = git(&seed, person, &["rev-parse", "HEAD"])?;
    fs::remove_dir_all(&seed).map_err(|error| {
        Failure::operational(format!("cannot remove {}: {error}", seed.display()))
    })?;
    Ok(commit)
}

/// A person's clone of the remote.
pub struct Clone {
    dir: PathBuf,
    person: Person,
}

impl Clone {
    /// Clones `remote` into `dir` for `person`.
    pub fn new(remote: &Path, dir: PathBuf, person: Person) -> Result<Self, Failure> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        git(
            parent,
            person,
            &[
                "clone",
                "--quiet",
                "--branch",
                BRANCH,
                &path_text(remote)?,
                &path_text(&dir)?,
            ],
        )?;
        Ok(Self { dir, person })
    }

    /// Every tracked file, by path.
    pub fn files(&self) -> Result<BTreeMap<String, String>, Failure> {
        let listing = git(&self.dir, self.person, &["ls-files", "-z"])?;
        let mut files = BTreeMap::new();
        for path in listing.split('\0').filter(|path| !path.is_empty()) {
            let text = fs::read_to_string(self.dir.join(path)).map_err(|error| {
                Failure::operational(format!("cannot read {path} in the clone: {error}"))
            })?;
            files.insert(path.to_owned(), text);
        }
        Ok(files)
    }

    /// Makes the files hold `files` (writing what changed, removing what is gone), commits
    /// everything with `message`, pushes, and returns the new commit. A push refused because
    /// the branch moved is handled as a person would: pull with rebase, push again.
    pub fn commit_and_push(
        &self,
        files: &BTreeMap<String, String>,
        message: &str,
    ) -> Result<String, Failure> {
        for (path, _) in self.files()? {
            if !files.contains_key(&path) {
                let full = self.dir.join(&path);
                fs::remove_file(&full).map_err(|error| {
                    Failure::operational(format!("cannot remove {}: {error}", full.display()))
                })?;
            }
        }
        write_files(&self.dir, files)?;
        git(&self.dir, self.person, &["add", "--all"])?;
        git(
            &self.dir,
            self.person,
            &["commit", "--quiet", "--message", message],
        )?;
        if git(
            &self.dir,
            self.person,
            &["push", "--quiet", "origin", BRANCH],
        )
        .is_err()
        {
            git(
                &self.dir,
                self.person,
                &["pull", "--quiet", "--rebase", "origin", BRANCH],
            )?;
            git(
                &self.dir,
                self.person,
                &["push", "--quiet", "origin", BRANCH],
            )?;
        }
        git(&self.dir, self.person, &["rev-parse", "HEAD"])
    }
}

fn write_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), Failure> {
    for (path, text) in files {
        let full = dir.join(path);
        if fs::read_to_string(&full).is_ok_and(|old| &old == text) {
            continue;
        }
        if let Some(parent) = full.parent() {
            create_dir(parent)?;
        }
        fs::write(&full, text).map_err(|error| {
            Failure::operational(format!("cannot write {}: {error}", full.display()))
        })?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    fs::create_dir_all(dir)
        .map_err(|error| Failure::operational(format!("cannot create {}: {error}", dir.display())))
}

fn path_text(path: &Path) -> Result<String, Failure> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        Failure::invalid(format!(
            "the path {} is not UTF-8; choose another --dir",
            path.display()
        ))
    })
}
