//! Paths inside the config repository.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a repository path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{}` is not a path inside the repository: {reason}",
    crate::shown::shown(value)
)]
pub struct RepoPathError {
    /// The text given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A file's path relative to the repository root, `/`-separated, with no `.`, `..` or empty
/// components: it can never name anything outside the repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(String);

impl RepoPath {
    /// Parses a relative path. A leading `./` is dropped; `..`, absolute paths, backslashes
    /// and NUL are refused.
    pub fn parse(value: &str) -> Result<Self, RepoPathError> {
        let refuse = |reason| RepoPathError {
            value: value.to_owned(),
            reason,
        };
        let trimmed = value.strip_prefix("./").unwrap_or(value);
        if trimmed.is_empty() {
            return Err(refuse("it is empty"));
        }
        if trimmed.starts_with('/') {
            return Err(refuse(
                "it is absolute; write it relative to the repository root",
            ));
        }
        if trimmed.contains('\\') || trimmed.contains('\0') {
            return Err(refuse(
                "it contains a backslash or NUL; use `/` between components",
            ));
        }
        for component in trimmed.split('/') {
            match component {
                "" => return Err(refuse("it has an empty component (`//` or a trailing `/`)")),
                "." | ".." => return Err(refuse("it has a `.` or `..` component")),
                ".git" => return Err(refuse("it points into `.git`")),
                _ => {}
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory holding this path, or `None` at the root.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(dir, _)| dir)
    }

    /// `self/child`, where `child` is itself a valid relative path.
    pub fn join(&self, child: &str) -> Result<Self, RepoPathError> {
        Self::parse(&format!("{}/{}", self.0, child))
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for RepoPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_kept_and_a_leading_dot_slash_dropped() {
        assert_eq!(
            RepoPath::parse("images/staging.json").unwrap().as_str(),
            "images/staging.json"
        );
        assert_eq!(RepoPath::parse("./a.json").unwrap().as_str(), "a.json");
        assert_eq!(
            RepoPath::parse("a/b/c.jsonnet").unwrap().parent(),
            Some("a/b")
        );
    }

    #[test]
    fn paths_that_could_leave_the_repository_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "a\\b",
            ".git/config",
            "a/./b",
        ] {
            assert!(RepoPath::parse(bad).is_err(), "{bad}");
        }
    }
}
