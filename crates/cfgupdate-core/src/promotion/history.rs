//! What the branch's automatic commits say: the last promotion into each wave, which app
//! commit each image came from, and the history people read.

use std::collections::BTreeMap;

use crate::key::StateKey;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::reference::ImageRef;
use crate::repository::{CommitInfo, ConfigRepository, RepositoryError};
use crate::slots::ImageSet;
use crate::trailers::{self, Record};

/// How many commits back the automatic history is read. Promotion decisions need the last
/// promotion into each wave; a wave not promoted into for this many commits is treated as
/// never promoted into, which can only make promotion more willing, never move it backwards
/// past a recorded promotion.
pub const HISTORY_DEPTH: usize = 2000;

/// One automatic commit, as `cfgupdate history` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The commit.
    pub commit: CommitId,
    /// Commit time, in seconds since the Unix epoch, as the commit records it.
    pub time: i64,
    /// Its subject line.
    pub subject: String,
    /// `Cfgupdate-Action`.
    pub action: String,
    /// `Cfgupdate-Wave`.
    pub wave: Option<WaveName>,
    /// Every `Cfgupdate-App-Commit`.
    pub app_commits: Vec<CommitId>,
    /// `Cfgupdate-Source-Wave`.
    pub source_wave: Option<WaveName>,
    /// `Cfgupdate-Source-Revision`.
    pub source_revision: Option<CommitId>,
    /// The images written.
    pub images: BTreeMap<ServiceName, ImageRef>,
    /// `Cfgupdate-Approved-By`, on a promotion through an approval gate.
    pub approved_by: Option<String>,
    /// With a state key: whether cfgupdate wrote (sealed) the commit. An unsealed one is
    /// shown, never acted on. `None` without a key.
    pub sealed: Option<bool>,
}

/// The last promotion into a wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastPromotion {
    /// The promotion commit.
    pub commit: CommitId,
    /// The source revision it promoted from.
    pub source_revision: CommitId,
    /// The images it wrote.
    pub images: ImageSet,
}

/// One commit with cfgupdate's trailers: whether they may decide anything (sealed, or no key).
struct Entry {
    info: CommitInfo,
    record: Record,
    trusted: bool,
}

/// The automatic commits reachable from `tip`, newest first, read once.
pub(crate) struct AutomaticHistory {
    entries: Vec<Entry>,
    keyed: bool,
}

impl AutomaticHistory {
    /// Reads the newest [`HISTORY_DEPTH`] commits; with `key`, only sealed ones decide.
    pub(crate) fn read(
        repo: &dyn ConfigRepository,
        tip: &CommitId,
        key: Option<&StateKey>,
    ) -> Result<Self, RepositoryError> {
        let entries = repo
            .log(tip, HISTORY_DEPTH)?
            .into_iter()
            .filter_map(|info| {
                let record = Record::parse(&info.message);
                record.is_automatic().then(|| Entry {
                    trusted: trailers::is_trusted(&info, key),
                    info,
                    record,
                })
            })
            .collect();
        Ok(Self {
            entries,
            keyed: key.is_some(),
        })
    }

    /// The entries whose trailers may decide.
    fn trusted(&self) -> impl DoubleEndedIterator<Item = (&CommitInfo, &Record)> {
        self.entries
            .iter()
            .filter(|entry| entry.trusted)
            .map(|entry| (&entry.info, &entry.record))
    }

    /// The newest promotion (or approval-let-through promotion) into `wave`.
    pub(crate) fn last_promotion(&self, wave: &WaveName) -> Option<LastPromotion> {
        self.trusted().find_map(|(info, record)| {
            let promoted = matches!(
                record.action.as_deref(),
                Some(trailers::PROMOTE | trailers::APPROVE)
            );
            if promoted && record.wave.as_ref() == Some(wave) {
                Some(LastPromotion {
                    commit: info.id.clone(),
                    source_revision: record.source_revision.clone()?,
                    images: record.images.clone(),
                })
            } else {
                None
            }
        })
    }

    /// The newest rollback of `service` in `wave` that cfgupdate wrote.
    pub(crate) fn last_rollback(&self, wave: &WaveName, service: &ServiceName) -> Option<CommitId> {
        self.trusted().find_map(|(info, record)| {
            (record.action.as_deref() == Some(trailers::ROLLBACK)
                && record.wave.as_ref() == Some(wave)
                && record.images.contains_key(service))
            .then(|| info.id.clone())
        })
    }

    /// The app commit that each image reference was built from, as far as the automatic
    /// commits say.
    pub(crate) fn app_commits(&self) -> BTreeMap<ImageRef, CommitId> {
        let mut apps = BTreeMap::new();
        // Oldest first, so that newer commits win.
        for (_, record) in self.trusted().rev() {
            for (service, app) in &record.image_apps {
                if let Some(image) = record.images.get(service) {
                    apps.insert(image.clone(), app.clone());
                }
            }
        }
        apps
    }

    /// The entries as people read them, newest first.
    pub(crate) fn entries(&self, limit: usize) -> Vec<HistoryEntry> {
        self.entries
            .iter()
            .take(limit)
            .map(
                |Entry {
                     info,
                     record,
                     trusted,
                 }| HistoryEntry {
                    commit: info.id.clone(),
                    time: info.time,
                    subject: info.message.lines().next().unwrap_or_default().to_owned(),
                    action: record.action.clone().unwrap_or_default(),
                    wave: record.wave.clone(),
                    app_commits: record.app_commits.clone(),
                    source_wave: record.source_wave.clone(),
                    source_revision: record.source_revision.clone(),
                    images: record.images.clone(),
                    approved_by: record.approved_by.clone(),
                    sealed: self.keyed.then_some(*trusted),
                },
            )
            .collect()
    }
}
