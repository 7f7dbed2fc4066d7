//! What [`crate::GitRepository::open`] needs to know, each part parsed once.

use std::fmt;
use std::path::PathBuf;

use crate::credentials::Credentials;
use crate::url::RemoteUrl;

/// Why an option was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// Not a branch name git accepts.
    #[error("`{0}` is not a valid branch name")]
    Branch(String),
    /// An author name or email git cannot write into a commit.
    #[error(
        "`{value}` is not a valid author {field}: it must be non-empty, on one line, without `<` or `>`"
    )]
    Author {
        /// `name` or `email`.
        field: &'static str,
        /// The text given.
        value: String,
    },
}

/// A branch or author the caller gave that git cannot use (exit 2).
impl cfgupdate_core::Classify for OptionsError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Invalid
    }
}

/// A branch of the remote, such as `master` or `env/prod`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Branch(String);

impl Branch {
    /// Parses a branch name (without `refs/heads/`), refusing what git refuses.
    pub fn parse(name: &str) -> Result<Self, OptionsError> {
        let valid = !name.is_empty()
            && !name.starts_with("refs/")
            && git2::Reference::is_valid_name(&format!("refs/heads/{name}"));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(OptionsError::Branch(name.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who cfgupdate's commits are by (author and committer alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    name: String,
    email: String,
}

impl Author {
    /// An author; the name and email must each be one non-empty line without `<` or `>`.
    pub fn new(name: &str, email: &str) -> Result<Self, OptionsError> {
        let check = |field, value: &str| {
            let valid = !value.trim().is_empty() && !value.contains(['<', '>', '\n', '\r', '\0']);
            if valid {
                Ok(value.trim().to_owned())
            } else {
                Err(OptionsError::Author {
                    field,
                    value: value.to_owned(),
                })
            }
        };
        Ok(Self {
            name: check("name", name)?,
            email: check("email", email)?,
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The email address.
    pub fn email(&self) -> &str {
        &self.email
    }
}

impl Default for Author {
    /// `cfgupdate <cfgupdate@localhost>`.
    fn default() -> Self {
        Self {
            name: "cfgupdate".to_owned(),
            email: "cfgupdate@localhost".to_owned(),
        }
    }
}

/// Everything needed to open a [`crate::GitRepository`].
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// The remote.
    pub remote: RemoteUrl,
    /// The branch of the remote that is the config repository; with
    /// [`remote_head_branch`](Self::remote_head_branch), only the fallback.
    pub branch: Branch,
    /// The directory holding caches, one bare repository per remote.
    pub cache_dir: PathBuf,
    /// Who commits.
    pub author: Author,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Work on the branch the remote's `HEAD` names, asked when the repository is opened;
    /// [`branch`](Self::branch) only when it names none (see
    /// [`GitOptions::with_remote_head_branch`]).
    pub remote_head_branch: bool,
}

impl GitOptions {
    /// Options for `branch` of `remote`, cached under `cache_dir`, with the default author
    /// and no credentials.
    pub fn new(remote: RemoteUrl, branch: Branch, cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            remote,
            branch,
            cache_dir: cache_dir.into(),
            author: Author::default(),
            credentials: Credentials::none(),
            remote_head_branch: false,
        }
    }

    /// With `author` committing.
    pub fn with_author(mut self, author: Author) -> Self {
        self.author = author;
        self
    }

    /// With `credentials`.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Working on the branch the remote's `HEAD` names rather than [`branch`](Self::branch),
    /// which stays the fallback for a remote whose `HEAD` names none (an empty repository).
    /// [`crate::GitRepository::open`] asks the remote (one more connection, reading only its
    /// ref advertisement) and refuses a name that is not a valid branch; see
    /// [`crate::GitRepository::branch_origin`].
    pub fn with_remote_head_branch(mut self) -> Self {
        self.remote_head_branch = true;
        self
    }
}

/// The cache directory to use when none is given: `$XDG_CACHE_HOME/cfgupdate`, else
/// `$HOME/.cache/cfgupdate`, else `cfgupdate-cache` in the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let from = |name| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(cache) = from("XDG_CACHE_HOME") {
        return PathBuf::from(cache).join("cfgupdate");
    }
    if let Some(home) = from("HOME") {
        return PathBuf::from(home).join(".cache").join("cfgupdate");
    }
    std::env::temp_dir().join("cfgupdate-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_follow_git() {
        for good in ["master", "env/prod", "release-1.2"] {
            assert_eq!(Branch::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "a..b", "a b", "-x/", "refs/heads/x", "x.lock", "a:b"] {
            assert!(Branch::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_author_that_would_break_the_commit_header_is_refused() {
        assert!(Author::new("Deploy Bot", "bot@example.com").is_ok());
        for (name, email) in [("", "a@b"), ("a<b", "a@b"), ("a", "x>"), ("a\nb", "a@b")] {
            assert!(Author::new(name, email).is_err(), "{name:?} {email:?}");
        }
    }
}
