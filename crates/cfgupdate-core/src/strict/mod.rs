//! Strict mode (docs/strict.md): automatic commits wait on the auto branch until the config
//! repository's own CI passed them, and only then reach the main branch, by fast-forward.
//!
//! [`Strict`] wraps any [`ConfigRepository`] and is one itself: while the main branch's
//! `cfgupdate.toml` has a `[strict]` table, its tip is the auto branch's (the main branch plus
//! the automatic changes not yet accepted) and a push lands there, so every automatic write
//! (publish, promote, approve, rollback, release) takes this path through the one write loop
//! they share, unchanged. Without `[strict]` it passes everything through.
//!
//! The auto branch is kept equal to "main plus the pending changes" on every fetch: when a
//! person moved the main branch, or a change was evicted, it is rebuilt on the main branch by
//! replaying each remaining change's intent, read from its trailers (these images into that
//! wave), through the same wave write and render checks; a diff is never rebased. A change
//! that no longer applies is dropped and reported. CI results ([`Strict::record_check`]) decide:
//! green fast-forwards the main branch, red evicts the change. Every decision is recorded in
//! the pipeline state first (a compare-and-swap that replicas share), and the refs follow it,
//! so two replicas can never act on contradicting results.

mod check;
mod gate;
mod queue;
mod record;
mod replay;
mod view;

#[cfg(test)]
mod regressions;
#[cfg(test)]
mod tests;

pub use check::{CheckOutcome, CheckReport, Ignored, StrictError};
pub use queue::{AutoQueue, QueuedChange};
pub use record::{CheckRecord, CheckState, Eviction, EvictionKind, StrictRecord};
pub use view::Strict;

use crate::key::StateKey;
use crate::names::CommitId;
use crate::publish::{Announcement, PublishError};
use crate::repository::ConfigRepository;

/// Refuses an announcement whose change the config repository's CI failed before: an evicted
/// announcement stays evicted (its replay is answered as refused, not committed again).
pub(crate) fn refuse_evicted(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
    tip: &CommitId,
    announcement: &Announcement,
) -> Result<(), PublishError> {
    let state = crate::promotion::state::load(repo, key, tip)?;
    match state
        .strict
        .evicted_announcement(announcement.app_commit(), announcement.images())
    {
        Some(eviction) => Err(PublishError::Evicted {
            app_commit: announcement.app_commit().clone(),
            commit: eviction.commit.clone(),
            reason: eviction.reason.clone(),
        }),
        None => Ok(()),
    }
}
