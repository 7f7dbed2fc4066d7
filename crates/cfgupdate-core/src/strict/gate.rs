//! Holds and freeze windows, asked again of the changes waiting on the auto branch: a change
//! queued before someone held its service (a rollback, a person's edit) or before a freeze
//! window began on its wave must not reach the main branch by a green result, nor be written
//! again by a rebuild. The rules are the ones publish and promote follow when they write
//! ([`Holds::split`], [`crate::pipeline::Wave::frozen_at`]); this module only asks them of a
//! change already made, read from its trailers.
//!
//! Only what automation writes is held back (`publish`, `promote`, `approve`): a rollback is a
//! person's command that holds its own services, and a change made with `--override-freeze`
//! (`Cfgupdate-Override: freeze`) passes a freeze as it did when it was made.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::freeze::Frozen;
use crate::names::{CommitId, ServiceName, WaveName};
use crate::pipeline::Pipeline;
use crate::promotion::DeferredRecord;
use crate::promotion::holds::{Hold, Holds, held_phrase};
use crate::promotion::state::PipelineState;
use crate::repository::CommitMessage;
use crate::slots::ImageSet;
use crate::trailers::{self, Record};

/// What holds and freeze windows say of a waiting change now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gate {
    /// It may go as it is.
    Open,
    /// Some or all of its services are held in its wave: what is left, and what holds the
    /// others.
    Held {
        /// The wave.
        wave: WaveName,
        /// The services that may still be written (empty: the change is dropped).
        free: ImageSet,
        /// The services held, with what holds them.
        held: Vec<(ServiceName, Hold)>,
    },
    /// Its wave is frozen: the change is dropped.
    Frozen {
        /// The wave.
        wave: WaveName,
        /// Until when, and why.
        frozen: Frozen,
    },
}

impl Gate {
    /// Why a change this gate closes is dropped, in one sentence (`None`: it is not dropped,
    /// at most written without some services).
    pub(crate) fn drop_reason(&self, action: &str) -> Option<String> {
        match self {
            Gate::Open => None,
            Gate::Held { free, .. } if !free.is_empty() => None,
            Gate::Held { wave, held, .. } => Some(format!(
                "every service it writes is held in wave `{wave}` since it was queued: {}",
                held_phrase(held)
            )),
            Gate::Frozen { wave, frozen } => Some(format!(
                "wave `{wave}` is frozen until {} ({}){}",
                frozen.until_rfc3339(),
                frozen.reason,
                if action == trailers::PUBLISH {
                    "; the announcement is deferred and published when the window ends"
                } else {
                    "; promotion decides again when the window ends"
                }
            )),
        }
    }
}

/// What holds and freeze windows (of `pipeline`, the main branch's, at `now`) say of the
/// change `message` describes.
pub(crate) fn gate(message: &str, pipeline: &Pipeline, holds: &Holds, now: SystemTime) -> Gate {
    let record = Record::parse(message);
    let automatic = matches!(
        record.action.as_deref(),
        Some(trailers::PUBLISH | trailers::PROMOTE | trailers::APPROVE)
    );
    let (true, Some(wave_name)) = (automatic, &record.wave) else {
        return Gate::Open;
    };
    // A wave no longer in the file: the replay says so; nothing to ask here.
    let Some(wave) = pipeline.wave(wave_name) else {
        return Gate::Open;
    };
    let overrides_freeze = CommitMessage::parse_trailers(message)
        .iter()
        .any(|(name, value)| name == trailers::OVERRIDE && value == trailers::OVERRIDE_FREEZE);
    if !overrides_freeze && let Some(frozen) = wave.frozen_at(now) {
        return Gate::Frozen {
            wave: wave_name.clone(),
            frozen,
        };
    }
    let (free, held) = holds.split(wave_name, &record.images);
    if held.is_empty() {
        return Gate::Open;
    }
    Gate::Held {
        wave: wave_name.clone(),
        free,
        held,
    }
}

/// The announcements a publish commit (`message`) carried, as deferred records (received
/// `at`): what a freeze dropped from the auto branch waits with the announcements the freeze
/// deferred on arrival, and is published when the window ends.
pub(crate) fn deferred_of(message: &str, at: u64) -> Vec<DeferredRecord> {
    let record = Record::parse(message);
    if record.action.as_deref() != Some(trailers::PUBLISH) {
        return Vec::new();
    }
    let mut by_app: BTreeMap<CommitId, ImageSet> = BTreeMap::new();
    for (service, image, app) in &record.image_entries {
        let app = app.clone().or_else(|| match record.app_commits.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        });
        // Only the final image of a service is written; an earlier one of the same commit
        // was superseded within it.
        if let Some(app) = app
            && record.images.get(service) == Some(image)
        {
            by_app
                .entry(app)
                .or_default()
                .insert(service.clone(), image.clone());
        }
    }
    by_app
        .into_iter()
        .map(|(app, images)| {
            let build = images
                .keys()
                .find_map(|service| record.builds.get(service))
                .cloned()
                .unwrap_or_default();
            DeferredRecord {
                app,
                images,
                build_number: build.number,
                build_created_at: build.created_at,
                at,
            }
        })
        .collect()
}

/// Defers `records` in `state`, and forgets that their images were published (the commit
/// that published them left the auto branch), so that the deferred publish writes them when
/// the window ends rather than taking them for a replay. Returns whether anything changed.
pub(crate) fn defer_again(state: &mut PipelineState, records: &[DeferredRecord]) -> bool {
    let mut changed = false;
    for record in records {
        for (service, image) in &record.images {
            if let Some(entry) = state.published.services.get_mut(service) {
                let before = entry.recent.len();
                entry
                    .recent
                    .retain(|r| !(r.app == record.app && &r.image == image));
                changed |= entry.recent.len() != before;
            }
        }
        changed |= state.add_deferred(record.clone());
    }
    changed
}
