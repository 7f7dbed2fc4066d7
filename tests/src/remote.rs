//! Bare repositories standing in for the config repository's remote.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cfgupdate_git::person::Identity;

use crate::git::git;

/// Creates a bare repository at `path` whose `branch` holds `files` (path, content) in one
/// commit, and returns that commit's id. With no files the repository is left empty: it has
/// no branch at all, and the returned id is empty.
pub fn create_bare_remote(path: &Path, branch: &str, files: &[(&str, &str)]) -> String {
    cfgupdate_git::person::create_remote(
        path,
        branch,
        files.iter().copied(),
        &Identity::new("Setup", "setup@example.com"),
        "Initial configuration",
    )
    .unwrap_or_else(|error| panic!("creating the remote {}: {error}", path.display()))
    .unwrap_or_default()
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
