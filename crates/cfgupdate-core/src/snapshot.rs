//! The config repository at one revision, as the operations read it: the pipeline file and
//! the files of each wave's image set.

use crate::names::CommitId;
use crate::path::RepoPath;
use crate::pipeline::{PIPELINE_FILE, Pipeline, PipelineError, Wave};
use crate::repository::{ConfigRepository, RepositoryError};
use crate::slots::wave::{WaveFiles, layout_files};

/// Why the repository at a revision could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Reading failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// There is no pipeline file.
    #[error(
        "the config repository has no {PIPELINE_FILE} at revision {revision}; cfgupdate needs it at the root of the branch"
    )]
    NoPipeline {
        /// The revision read.
        revision: CommitId,
    },
    /// The pipeline file is invalid.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A file is not UTF-8 text.
    #[error("{path} at revision {revision} is not UTF-8 text")]
    NotText {
        /// The file.
        path: RepoPath,
        /// The revision read.
        revision: CommitId,
    },
}

/// The repository at one revision, with its pipeline parsed.
pub struct Snapshot<'r> {
    repo: &'r dyn ConfigRepository,
    revision: CommitId,
    pipeline: Pipeline,
}

impl<'r> Snapshot<'r> {
    /// Reads and parses the pipeline file at `revision`.
    pub fn at(repo: &'r dyn ConfigRepository, revision: &CommitId) -> Result<Self, SnapshotError> {
        let path = RepoPath::parse(PIPELINE_FILE).map_err(|_| SnapshotError::NoPipeline {
            revision: revision.clone(),
        })?;
        let bytes = repo
            .read_file(revision, &path)?
            .ok_or_else(|| SnapshotError::NoPipeline {
                revision: revision.clone(),
            })?;
        let text = String::from_utf8(bytes).map_err(|_| SnapshotError::NotText {
            path,
            revision: revision.clone(),
        })?;
        let pipeline = Pipeline::parse(PIPELINE_FILE, &text)?;
        Ok(Self {
            repo,
            revision: revision.clone(),
            pipeline,
        })
    }

    /// The pipeline at this revision.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The revision.
    pub fn revision(&self) -> &CommitId {
        &self.revision
    }

    /// A text file at this revision, or `None` if absent.
    pub fn read_text(&self, path: &RepoPath) -> Result<Option<String>, SnapshotError> {
        match self.repo.read_file(&self.revision, path)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| SnapshotError::NotText {
                    path: path.clone(),
                    revision: self.revision.clone(),
                }),
        }
    }

    /// The contents of the files of `wave`'s image set.
    pub fn wave_files(&self, wave: &Wave) -> Result<WaveFiles, SnapshotError> {
        let paths = layout_files(&wave.images, |dir| {
            self.repo.list_files(&self.revision, dir)
        })?;
        let mut files = WaveFiles::new();
        for path in paths {
            let text = self.read_text(&path)?;
            files.insert(path, text);
        }
        Ok(files)
    }
}
