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
/// cache; nor is a failure of class `Invalid` (it may blame content a person has fixed since).
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
            // An answer that blames the repository's content comes only from a fresh fetch:
            // a person may have fixed the branch since the cache was filled.
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::memory::MemoryRepository;
    use crate::path::RepoPath;
    use crate::publish::PublishError;
    use crate::snapshot::Snapshot;

    struct Still;

    impl Clock for Still {
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH
        }
        fn sleep(&self, _: Duration) {}
    }

    const GOOD: &str = "[[wave]]\nname = \"staging\"\nimages = \"images.json\"\ntargets = [\"s\"]\n\n[target.s]\nentrypoint = \"main.jsonnet\"\n";

    /// Plans nothing, but first reads the pipeline at the tip, as every write does.
    fn read_pipeline(
        repo: &mut dyn ConfigRepository,
    ) -> Result<Option<(CommitId, ())>, PublishError> {
        push_intent(
            repo,
            &Still,
            &RetryPolicy::default(),
            false,
            |attempts| PublishError::Contended { attempts },
            |repo, tip| {
                Snapshot::at(repo, tip)?;
                Ok(None::<(Change, ())>)
            },
        )
    }

    #[test]
    fn an_invalid_answer_is_never_given_from_a_stale_copy() {
        let mut repo = MemoryRepository::new(&[("cfgupdate.toml", "[[wave]]\nname = 3\n")]);
        let error = read_pipeline(&mut repo).unwrap_err();
        assert!(error.blames_repository(), "{error}");
        // The service's copy holds the broken file; a person fixes the remote.
        repo.person_pushes("Fix the pipeline file", |tree| {
            tree.insert(
                RepoPath::parse("cfgupdate.toml").unwrap(),
                GOOD.as_bytes().to_vec(),
            );
        });
        assert!(!repo.is_fresh());
        assert_eq!(read_pipeline(&mut repo), Ok(None));
    }
}
