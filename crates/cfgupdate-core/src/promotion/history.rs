//! What the branch's automatic commits say: the last promotion into each wave, which app
//! commit each image came from, and the history people read.

use std::collections::BTreeMap;

use serde::Serialize;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The commit.
    pub commit: CommitId,
    /// Commit time, RFC 3339.
    pub time: String,
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

/// The automatic commits reachable from `tip`, newest first, read once.
pub(crate) struct AutomaticHistory {
    entries: Vec<(CommitInfo, Record)>,
}

impl AutomaticHistory {
    pub(crate) fn read(
        repo: &dyn ConfigRepository,
        tip: &CommitId,
    ) -> Result<Self, RepositoryError> {
        Self::read_depth(repo, tip, HISTORY_DEPTH)
    }

    /// Reads only the newest `depth` commits.
    pub(crate) fn read_depth(
        repo: &dyn ConfigRepository,
        tip: &CommitId,
        depth: usize,
    ) -> Result<Self, RepositoryError> {
        let entries = repo
            .log(tip, depth)?
            .into_iter()
            .map(|info| {
                let record = Record::parse(&info.message);
                (info, record)
            })
            .filter(|(_, record)| record.is_automatic())
            .collect();
        Ok(Self { entries })
    }

    /// The newest promotion (or approval-let-through promotion) into `wave`.
    pub(crate) fn last_promotion(&self, wave: &WaveName) -> Option<LastPromotion> {
        self.entries.iter().find_map(|(info, record)| {
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

    /// The app commit that each image reference was built from, as far as the automatic
    /// commits say.
    pub(crate) fn app_commits(&self) -> BTreeMap<ImageRef, CommitId> {
        let mut apps = BTreeMap::new();
        // Oldest first, so that newer commits win.
        for (_, record) in self.entries.iter().rev() {
            for (service, app) in &record.image_apps {
                if let Some(image) = record.images.get(service) {
                    apps.insert(image.clone(), app.clone());
                }
            }
        }
        apps
    }

    /// The CI build of the newest publish of each service.
    pub(crate) fn latest_builds(&self) -> BTreeMap<ServiceName, trailers::BuildInfo> {
        let mut builds = BTreeMap::new();
        for (_, record) in &self.entries {
            if record.action.as_deref() == Some(trailers::PUBLISH) {
                for (service, build) in &record.builds {
                    builds
                        .entry(service.clone())
                        .or_insert_with(|| build.clone());
                }
            }
        }
        builds
    }

    /// Whether a publish commit already carried `app` with exactly these images.
    pub(crate) fn published(&self, app: &CommitId, images: &ImageSet) -> bool {
        self.entries.iter().any(|(_, record)| {
            record.action.as_deref() == Some(trailers::PUBLISH)
                && record.app_commits.contains(app)
                && images.iter().all(|(service, image)| {
                    record
                        .all_images
                        .iter()
                        .any(|(s, i)| s == service && i == image)
                })
        })
    }

    /// The entries as people read them, newest first.
    pub(crate) fn entries(&self, limit: usize) -> Vec<HistoryEntry> {
        self.entries
            .iter()
            .take(limit)
            .map(|(info, record)| HistoryEntry {
                commit: info.id.clone(),
                time: jiff::Timestamp::from_second(info.time)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                subject: info.message.lines().next().unwrap_or_default().to_owned(),
                action: record.action.clone().unwrap_or_default(),
                wave: record.wave.clone(),
                app_commits: record.app_commits.clone(),
                source_wave: record.source_wave.clone(),
                source_revision: record.source_revision.clone(),
                images: record.images.clone(),
            })
            .collect()
    }
}
