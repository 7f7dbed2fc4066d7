//! The config repository at one revision, as the operations read it: the pipeline file and
//! the files of each wave's image set.

use std::sync::Arc;

use crate::names::CommitId;
use crate::path::RepoPath;
use crate::pipeline::{PIPELINE_FILE, Pipeline, PipelineError, Wave, parse_shared};
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
    /// Shared with other snapshots whose pipeline file has the same text.
    pipeline: Arc<Pipeline>,
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
        let pipeline = parse_shared(PIPELINE_FILE, &text)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryRepository;

    /// A text only these tests parse: the cache is shared by the whole test process.
    const PIPELINE: &str = "# snapshot tests\n[[wave]]\nname = \"staging\"\nimages = \"images/staging.json\"\ntargets = [\"staging\"]\n\n[target.staging]\nentrypoint = \"envs/staging/main.jsonnet\"\n";

    fn path(text: &str) -> RepoPath {
        RepoPath::parse(text).expect("a test path")
    }

    #[test]
    fn revisions_with_the_same_pipeline_file_share_one_parse() {
        let mut repo =
            MemoryRepository::new(&[(PIPELINE_FILE, PIPELINE), ("images/staging.json", "{}\n")]);
        let first = repo.remote_tip().clone();
        let second = repo.person_pushes("a person edits the README", |tree| {
            tree.insert(path("README.md"), b"hello\n".to_vec());
        });
        let a = Snapshot::at(&repo, &first).expect("first revision");
        let b = Snapshot::at(&repo, &second).expect("second revision");
        assert!(
            std::ptr::eq(a.pipeline(), b.pipeline()),
            "the same cfgupdate.toml was parsed twice"
        );
    }

    #[test]
    fn a_changed_pipeline_file_is_read_anew() {
        let mut repo =
            MemoryRepository::new(&[(PIPELINE_FILE, PIPELINE), ("images/staging.json", "{}\n")]);
        let first = repo.remote_tip().clone();
        let renamed = PIPELINE.replace("name = \"staging\"", "name = \"qa\"");
        let second = repo.person_pushes("a person renames the wave", |tree| {
            tree.insert(path(PIPELINE_FILE), renamed.into_bytes());
        });
        let a = Snapshot::at(&repo, &first).expect("first revision");
        let b = Snapshot::at(&repo, &second).expect("second revision");
        assert_eq!(a.pipeline().waves[0].name.as_str(), "staging");
        assert_eq!(b.pipeline().waves[0].name.as_str(), "qa");
        // And the first revision still reads as it was.
        let again = Snapshot::at(&repo, &first).expect("first revision again");
        assert_eq!(again.pipeline().waves[0].name.as_str(), "staging");
    }
}
