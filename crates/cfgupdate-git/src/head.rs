//! Which branch a [`crate::GitRepository`] works on when the caller named none: the one the
//! remote's `HEAD` names, asked of the remote when the repository is opened.
//!
//! The name comes from outside (a hostile server can advertise anything), so it must name a
//! branch (`refs/heads/...`), be valid UTF-8, at most [`MAX_BRANCH_LEN`] bytes, and pass
//! [`Branch::parse`]; anything else is refused with a sentence saying to pass `--branch`.
//! A remote whose `HEAD` names no branch (a brand-new empty repository, or a `HEAD` pointing
//! at a branch that does not exist) leaves the fallback, `master` for the CLI.

use std::fmt;

use cfgupdate_core::adapter::shown;
use cfgupdate_core::{RepositoryError, RepositoryErrorKind};
use git2::{Direction, ErrorCode, Repository};

use crate::errors::Describe;
use crate::options::{Branch, GitOptions};
use crate::remote;
use crate::url::Transport;

/// The longest branch name taken from a remote's `HEAD`, in bytes: longer ones are refused
/// (git sets no limit, hosting services allow 255).
pub const MAX_BRANCH_LEN: usize = 255;

/// Where the branch a [`crate::GitRepository`] works on came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchOrigin {
    /// The caller named it ([`GitOptions::new`]).
    Given,
    /// The remote's `HEAD` names it ([`GitOptions::with_remote_head_branch`]).
    RemoteHead,
    /// The remote's `HEAD` names no branch (an empty repository, or a `HEAD` pointing at a
    /// branch that does not exist), so it is the fallback the caller gave.
    Fallback,
    /// Not known yet: the remote could not be reached when the repository was opened. The
    /// next [`ConfigRepository::refresh`](cfgupdate_core::ConfigRepository::refresh)
    /// asks again before it fetches (and fails, saying why, while the remote stays
    /// unreachable); until then the branch is the fallback, and nothing has been read.
    Pending,
}

impl fmt::Display for BranchOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BranchOrigin::Given => "given",
            BranchOrigin::RemoteHead => "the branch the remote's HEAD names",
            BranchOrigin::Fallback => "the remote's HEAD names no branch",
            BranchOrigin::Pending => "the remote's HEAD could not be asked yet",
        })
    }
}

/// Why the name a remote's `HEAD` advertises is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    /// Not under `refs/heads/`.
    #[error("`{}` is not a branch (not under refs/heads/)", shown(.0))]
    NotABranch(String),
    /// Not UTF-8.
    #[error("`{}` is not UTF-8", shown(.0))]
    NotUtf8(String),
    /// Longer than [`MAX_BRANCH_LEN`].
    #[error("the branch name `{}` is {len} bytes long, more than the {MAX_BRANCH_LEN} allowed", shown(.name))]
    TooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Refused by [`Branch::parse`].
    #[error("`{}` is not a valid branch name", shown(.0))]
    Invalid(String),
}

/// The remote's `HEAD` names nothing cfgupdate will work on: retrying will not change it; `--branch` does
/// (the class of the `Failed` repository error it becomes).
impl cfgupdate_core::Classify for HeadError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Failed
    }
}

/// The branch `target` (what the remote's `HEAD` points at, such as `refs/heads/main`)
/// names, checked as input from outside.
pub(crate) fn branch_of(target: &[u8]) -> Result<Branch, HeadError> {
    let text = std::str::from_utf8(target)
        .map_err(|_| HeadError::NotUtf8(String::from_utf8_lossy(target).into_owned()))?;
    let Some(name) = text.strip_prefix("refs/heads/") else {
        return Err(HeadError::NotABranch(text.to_owned()));
    };
    if name.len() > MAX_BRANCH_LEN {
        return Err(HeadError::TooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    Branch::parse(name).map_err(|_| HeadError::Invalid(name.to_owned()))
}

/// When `options` ask for the remote's `HEAD` branch: asks the remote (one connection, which
/// reads the remote's ref advertisement and nothing more) and sets `options.branch` to what
/// it names, leaving the fallback when it names none. `repo` is the cache (libgit2 needs a
/// repository to guess the branch from a server that does not say which one `HEAD` is).
pub(crate) fn resolve(
    repo: &Repository,
    options: &mut GitOptions,
) -> Result<BranchOrigin, RepositoryError> {
    if !options.remote_head_branch {
        return Ok(BranchOrigin::Given);
    }
    let describe = Describe {
        url: &options.remote,
        credentials: &options.credentials,
    };
    let target = match remote_head(repo, options) {
        Ok(target) => target,
        Err(error) => {
            return Err(describe.remote(
                &format!(
                    "cannot ask {} which branch its HEAD names (pass --branch NAME to choose the branch)",
                    options.remote
                ),
                &error,
            ));
        }
    };
    let Some(target) = target else {
        return Ok(BranchOrigin::Fallback);
    };
    let branch = branch_of(&target).map_err(|error| {
        describe.error(
            RepositoryErrorKind::Failed,
            &format!(
                "cfgupdate will not work on the branch the HEAD of {} names: {error}; pass --branch NAME to choose the branch",
                options.remote
            ),
        )
    })?;
    options.branch = branch;
    Ok(BranchOrigin::RemoteHead)
}

/// What the remote's `HEAD` points at (`refs/heads/main`), or `None` when it names nothing.
fn remote_head(repo: &Repository, options: &GitOptions) -> Result<Option<Vec<u8>>, git2::Error> {
    // libgit2 calls a path that does not exist an "unsupported URL protocol".
    if options.remote.transport() == Transport::Local {
        let path = options
            .remote
            .redacted()
            .trim_start_matches("file://")
            .to_owned();
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(git2::Error::new(
                ErrorCode::NotFound,
                git2::ErrorClass::Net,
                format!("there is no repository at {path} (no such file or directory)"),
            ));
        }
    }
    let url = &options.remote;
    let mut remote = repo.remote_anonymous(url.for_libgit2())?;
    let connection = remote.connect_auth(
        Direction::Fetch,
        Some(remote::callbacks(&options.credentials, url, false)),
        Some(remote::proxy()),
    )?;
    match connection.default_branch() {
        Ok(target) => Ok(Some(target.to_vec())),
        // No HEAD advertised (an empty repository, or a HEAD whose branch does not exist),
        // or one that points nowhere libgit2 can tell.
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_under_refs_heads_is_taken() {
        for (target, name) in [
            ("refs/heads/main", "main"),
            ("refs/heads/master", "master"),
            ("refs/heads/env/prod", "env/prod"),
        ] {
            assert_eq!(branch_of(target.as_bytes()).unwrap().as_str(), name);
        }
    }

    #[test]
    fn what_a_hostile_server_may_name_is_refused() {
        let long = format!("refs/heads/{}", "a".repeat(MAX_BRANCH_LEN + 1));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"refs/heads/../../x".to_vec(), "not a valid branch name"),
            (b"refs/heads/a..b".to_vec(), "not a valid branch name"),
            (b"refs/heads/".to_vec(), "not a valid branch name"),
            (
                b"refs/heads/x\nrefs/heads/y".to_vec(),
                "not a valid branch name",
            ),
            (
                b"refs/heads/refs/heads/x".to_vec(),
                "not a valid branch name",
            ),
            (b"refs/tags/v1".to_vec(), "is not a branch"),
            (b"../../etc/passwd".to_vec(), "is not a branch"),
            (b"HEAD".to_vec(), "is not a branch"),
            (b"refs/heads/\xff".to_vec(), "not UTF-8"),
            (long.into_bytes(), "more than the 255 allowed"),
        ];
        for (target, reason) in cases {
            let error = branch_of(&target).unwrap_err().to_string();
            assert!(error.contains(reason), "{target:?}: {error}");
            assert!(!error.contains('\n'), "{error}");
            assert!(error.len() < 400, "{error}");
        }
    }

    #[test]
    fn the_longest_allowed_name_is_taken() {
        let name = "a".repeat(MAX_BRANCH_LEN);
        let target = format!("refs/heads/{name}");
        assert_eq!(branch_of(target.as_bytes()).unwrap().as_str(), name);
    }
}
