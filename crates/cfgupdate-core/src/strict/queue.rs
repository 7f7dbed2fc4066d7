//! What `status` shows of strict mode: the auto queue, each pending change with its commit
//! and CI state, and the changes evicted or dropped recently.

use super::Strict;
use super::record::{CheckRecord, Eviction};
use super::replay::pending;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::reference::ImageRef;
use crate::repository::{ConfigRepository, RepositoryError};
use crate::trailers::Record;
use std::collections::BTreeMap;

/// One automatic change waiting on the auto branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedChange {
    /// Its commit on the auto branch.
    pub commit: CommitId,
    /// Its subject line.
    pub subject: String,
    /// Its `Cfgupdate-Action`.
    pub action: String,
    /// The wave it writes.
    pub wave: Option<WaveName>,
    /// The images it writes.
    pub images: BTreeMap<ServiceName, ImageRef>,
    /// The latest CI result for the commit, `None` while CI has said nothing.
    pub ci: Option<CheckRecord>,
}

/// The auto queue as last fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoQueue {
    /// The auto branch's name.
    pub branch: String,
    /// The main branch's tip.
    pub main: CommitId,
    /// The auto branch's tip (`None`: it does not exist yet).
    pub auto: Option<CommitId>,
    /// The changes waiting, oldest first (the main branch is fast-forwarded through them).
    pub changes: Vec<QueuedChange>,
    /// Changes evicted by CI or dropped by a rebuild, newest first.
    pub evicted: Vec<Eviction>,
}

impl<R: ConfigRepository> Strict<R> {
    /// The auto queue as last fetched, `None` while strict mode is off (fetch first: this
    /// reads what the last fetch brought).
    pub fn queue(&self) -> Result<Option<AutoQueue>, RepositoryError> {
        let (Some(branch), Some(main)) = (self.auto_branch(), self.main_tip()) else {
            return Ok(None);
        };
        let record = self.record(main);
        let changes = match self.side_tip_fetched() {
            None => Vec::new(),
            Some(side) => pending(self.inner(), side, main)?
                .commits
                .into_iter()
                .map(|commit| {
                    let intent = Record::parse(&commit.message);
                    QueuedChange {
                        ci: record.check_of(&commit.id).cloned(),
                        subject: commit.message.lines().next().unwrap_or_default().to_owned(),
                        action: intent.action.unwrap_or_default(),
                        wave: intent.wave,
                        images: intent.images,
                        commit: commit.id,
                    }
                })
                .collect(),
        };
        Ok(Some(AutoQueue {
            branch: branch.to_owned(),
            main: main.clone(),
            auto: self.side_tip_fetched().cloned(),
            changes,
            evicted: record.evicted.iter().rev().cloned().collect(),
        }))
    }
}
