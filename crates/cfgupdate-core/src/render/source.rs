//! Where evaluation reads files from: a trait, so that the core reads a checkout on disk (through
//! the CLI) and a repository revision with pending changes (itself) by the same rules.

use std::collections::{BTreeMap, BTreeSet};

use crate::names::CommitId;
use crate::path::RepoPath;
use crate::repository::{ConfigRepository, FileChange, RepositoryError};

/// Why a file could not be read for rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The path leads outside the repository (a symlink pointing out of it, for one).
    #[error(
        "`{}` leads outside the repository: {reason}",
        crate::shown::shown(path)
    )]
    Outside {
        /// The path asked for.
        path: String,
        /// Where it leads, or why that is outside.
        reason: String,
    },
    /// The file exists but could not be read.
    #[error("`{}` cannot be read: {reason}", crate::shown::shown(path))]
    Unreadable {
        /// The path asked for.
        path: String,
        /// Why.
        reason: String,
    },
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The files of a config repository as rendering sees them.
///
/// Implementations must confine themselves to the repository: a [`RepoPath`] cannot name
/// anything outside it, but a symlink inside it can point out, and such a file must be refused
/// with [`SourceError::Outside`], never read.
pub trait SourceFiles {
    /// A file's content, or `None` when there is no such file (or it is a directory).
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError>;

    /// Every file below the directory `dir` (recursively; `""` is the whole repository).
    fn list(&self, dir: &str) -> Result<Vec<RepoPath>, SourceError>;
}

/// The repository at one revision with pending file changes laid over it: what the files
/// will be once the change is committed.
pub struct RevisionFiles<'a> {
    repo: &'a dyn ConfigRepository,
    revision: &'a CommitId,
    overlay: &'a BTreeMap<RepoPath, FileChange>,
}

impl<'a> RevisionFiles<'a> {
    /// `repo` at `revision`, with `overlay` applied (an empty map for the revision as it is).
    pub fn new(
        repo: &'a dyn ConfigRepository,
        revision: &'a CommitId,
        overlay: &'a BTreeMap<RepoPath, FileChange>,
    ) -> Self {
        Self {
            repo,
            revision,
            overlay,
        }
    }
}

impl SourceFiles for RevisionFiles<'_> {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        match self.overlay.get(path) {
            Some(FileChange::Write(bytes)) => Ok(Some(bytes.clone())),
            Some(FileChange::Delete) => Ok(None),
            None => Ok(self.repo.read_file(self.revision, path)?),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<RepoPath>, SourceError> {
        let mut files: BTreeSet<RepoPath> = self
            .repo
            .list_files(self.revision, dir)?
            .into_iter()
            .collect();
        for (path, change) in self.overlay {
            if !is_below(path, dir) {
                continue;
            }
            match change {
                FileChange::Write(_) => files.insert(path.clone()),
                FileChange::Delete => files.remove(path),
            };
        }
        Ok(files.into_iter().collect())
    }
}

/// Whether `path` lies below the directory `dir` (`""` holds everything).
pub(crate) fn is_below(path: &RepoPath, dir: &str) -> bool {
    dir.is_empty()
        || path
            .as_str()
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}
