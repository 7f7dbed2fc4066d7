//! Everything of the pipeline that is due now, in one pass: what the service's timer and
//! `cfgupdate advance` run. The order is the core's decision, not each adapter's: first the
//! promotions whose gates opened ([`crate::promotion::advance`]), then, once the first wave's
//! freeze window ended, the announcements the freeze deferred ([`crate::publish_deferred`]).

use crate::clock::Clock;
use crate::intent::WriteOptions;
use crate::promotion::{Advance, PromotionError, advance};
use crate::publish::{DeferredRun, PublishError, publish_deferred};
use crate::repository::ConfigRepository;

/// What one pass over everything due did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The promotions made, refused, and when the next soak gate opens.
    pub advance: Advance,
    /// What the deferred announcements' run did, or why it failed (the promotions above stand
    /// either way: each is its own commit).
    pub deferred: Result<DeferredRun, PublishError>,
}

impl Due {
    /// Whether the pass wrote nothing.
    pub fn is_unchanged(&self) -> bool {
        self.advance.promoted.is_empty()
            && self
                .deferred
                .as_ref()
                .is_ok_and(|run| run.published.is_empty())
    }
}

/// Runs everything due now: the promotions whose gates are open, then what a freeze window
/// deferred once the window ended. A failure of the promotions' pass stops it (nothing of the
/// deferred run is tried on a repository that could not be read); a failure of the deferred
/// run is returned beside the promotions made.
pub fn run_due(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
) -> Result<Due, PromotionError> {
    let advance = advance(repo, clock, options)?;
    let deferred = publish_deferred(repo, clock, options);
    Ok(Due { advance, deferred })
}
