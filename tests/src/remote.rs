//! Bare repositories standing in for the config repository's remote.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::git::git;

/// Creates a bare repository at `path` whose `branch` holds `files` (path, content) in one
/// commit, and returns that commit's id. With no files the repository is left empty: it has
/// no branch at all, and the returned id is empty.
pub fn create_bare_remote(path: &Path, branch: &str, files: &[(&str, &str)]) -> String {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).unwrap();
    git(
        parent,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch",
            branch,
            path.to_str().unwrap(),
        ],
    );
    if files.is_empty() {
        return String::new();
    }
    let work = tempfile::tempdir().unwrap();
    git(
        work.path(),
        &["init", "--quiet", "--initial-branch", branch, "."],
    );
    for (name, content) in files {
        let file = work.path().join(name);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, content).unwrap();
    }
    git(work.path(), &["add", "--all"]);
    git(
        work.path(),
        &[
            "-c",
            "user.name=Setup",
            "-c",
            "user.email=setup@example.com",
            "commit",
            "--quiet",
            "-m",
            "Initial configuration",
        ],
    );
    git(
        work.path(),
        &[
            "push",
            "--quiet",
            path.to_str().unwrap(),
            &format!("HEAD:refs/heads/{branch}"),
        ],
    );
    rev_parse(path, branch)
}

/// Installs `script` as the executable hook `name` (`pre-receive`, `update`, ...) of the bare
/// repository at `bare`.
pub fn install_hook(bare: &Path, name: &str, script: &str) {
    let hooks = bare.join("hooks");
    fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join(name);
    fs::write(&hook, script).unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The commit id `revision` names in the repository at `repo`.
pub fn rev_parse(repo: &Path, revision: &str) -> String {
    git(
        repo,
        &["rev-parse", "--verify", &format!("{revision}^{{commit}}")],
    )
}
