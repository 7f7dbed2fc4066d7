//! The write loop every automatic change goes through: compute the intent's change on the tip,
//! push it without force, and when the remote moved on, fetch and compute it again on the new
//! tip. A diff is never rebased, so a person's concurrent commit can never be undone.

use crate::class::{Classify, ErrorClass};
use crate::clock::Clock;
use crate::names::CommitId;
use crate::repository::{Change, ConfigRepository, PushOutcome, RepositoryError};
use crate::retry::RetryPolicy;

/// Pushes what `plan` computes from the tip, replaying the intent after every rejection.
///
/// Starts from the cached tip (a push against a current cache costs one round trip); `plan`
/// returning `None` ("nothing to do") is believed only once the tip was fetched (in this call,
/// or by the caller just before: `fetched`), so "unchanged" is never answered from a stale
/// cache. An `Invalid` error from `plan` (it blames the repository's content: a slot, the
/// render or effect check) is likewise believed only from a fetched tip (contract section 5:
/// 422 only from a fresh fetch): a person may have fixed the content since the cache was read.
/// Gives up with `contended(attempts)` after `retry.attempts` rejections.
pub(crate) fn push_intent<T, E: From<RepositoryError> + Classify>(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    retry: &RetryPolicy,
    mut fetched: bool,
    contended: impl Fn(u32) -> E,
    mut plan: impl FnMut(&dyn ConfigRepository, &CommitId) -> Result<Option<(Change, T)>, E>,
) -> Result<Option<(CommitId, T)>, E> {
    let mut tip = match repo.tip() {
        Ok(tip) => tip,
        Err(_) => {
            fetched = true;
            repo.refresh()?
        }
    };
    let mut rejected = 0;
    loop {
        let planned = match plan(repo, &tip) {
            Err(error) if !fetched && error.class() == ErrorClass::Invalid => {
                tip = repo.refresh()?;
                fetched = true;
                continue;
            }
            planned => planned?,
        };
        let Some((change, value)) = planned else {
            if fetched {
                return Ok(None);
            }
            tip = repo.refresh()?;
            fetched = true;
            continue;
        };
        match repo.commit_and_push(&tip, &change)? {
            PushOutcome::Pushed(commit) => return Ok(Some((commit, value))),
            PushOutcome::Rejected => {
                rejected += 1;
                if rejected >= retry.attempts {
                    return Err(contended(rejected));
                }
                clock.sleep(retry.delay(rejected, clock.now()));
                tip = repo.refresh()?;
                fetched = true;
            }
        }
    }
}
