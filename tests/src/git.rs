//! Running the git CLI with a configuration no developer's setup can change.

use std::path::Path;
use std::process::{Command, Output};

/// A `git` command in `dir`, isolated from the user's and the system's configuration and
/// speaking English, so its messages can be matched (the scripted person's, one rule for both).
pub(crate) fn command(dir: &Path) -> Command {
    cfgupdate_git::person::command(dir)
}

/// Runs `git args...` in `dir` and returns what it did, whatever its exit status.
pub fn try_git(dir: &Path, args: &[&str]) -> Output {
    command(dir)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run git {args:?} in {}: {error}", dir.display()))
}

/// Runs `git args...` in `dir` and returns its standard output, trimmed; panics with git's
/// standard error when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = try_git(dir, args);
    if !output.status.success() {
        panic!(
            "git {args:?} in {} failed ({}): {}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}
