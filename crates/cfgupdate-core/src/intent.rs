//! The write loop every automatic change goes through: compute the intent's change on the tip,
//! push it without force, and when the remote moved on, fetch and compute it again on the new
//! tip. A diff is never rebased, so a person's concurrent commit can never be undone.

use crate::class::{Classify, ErrorClass};
use crate::clock::Clock;
use crate::key::StateKey;
use crate::names::CommitId;
use crate::render::RenderLimits;
use crate::repository::{Change, ConfigRepository, PushOutcome, RepositoryError};
use crate::retry::RetryPolicy;
use crate::trailers;

/// How patiently an automatic write retries, how long a render may take, and the state key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Retries of rejected pushes.
    pub retry: RetryPolicy,
    /// Limits of the renders the render check makes.
    pub render: RenderLimits,
    /// The state key: with it, commits are sealed, the state document is authenticated, and
    /// only sealed trailers and authenticated state decide
    /// (docs/promotion.md#state-only-cfgupdate-can-write). Without it, nothing is authenticated.
    pub key: Option<StateKey>,
}

/// Pushes what `plan` computes from the tip, replaying the intent after every rejection.
///
/// Starts from the cached tip (a push against a current cache costs one round trip); `plan`
/// returning `None` ("nothing to do") is believed only once the tip was fetched (in this call,
/// or by the caller just before: `fetched`), so "unchanged" is never answered from a stale
/// cache; nor is a failure of class `Invalid` (it may blame content a person has fixed since)
/// or `Refused` (a hold an admin may have released since). When the fetch finds the same tip
/// and state, that failure is the answer without planning again.
/// Gives up with `contended(attempts)` after `retry.attempts` rejections. With a state key,
/// every commit is sealed on the parent it is built on, here and nowhere else.
#[allow(clippy::too_many_arguments)]
pub(crate) fn push_intent<T, E: From<RepositoryError> + Classify>(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    retry: &RetryPolicy,
    key: Option<&StateKey>,
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
            // An answer that blames the repository's content, or refuses by a hold, comes
            // only from a fresh fetch: a person may have fixed the branch, or an admin
            // released the hold, since the cache was filled.
            Err(error)
                if !fetched
                    && matches!(error.class(), ErrorClass::Invalid | ErrorClass::Refused) =>
            {
                let (tip_was, state_was) = (tip, state_commit(repo));
                tip = repo.refresh()?;
                fetched = true;
                // A plan reads the tip, the state and the clock, nothing else: on the same
                // tip and state it gives the same answer, and planning again would only
                // repeat its work (a render that ran into its time limit ran twice).
                if tip == tip_was && state_was.is_some() && state_commit(repo) == state_was {
                    return Err(error);
                }
                continue;
            }
            planned => planned?,
        };
        let Some((mut change, value)) = planned else {
            if fetched {
                return Ok(None);
            }
            tip = repo.refresh()?;
            fetched = true;
            continue;
        };
        seal(repo, key, &tip, &mut change);
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

/// The commit of the state as last fetched (`Some(None)`: there is none), or `None` when it
/// cannot be read.
fn state_commit(repo: &dyn ConfigRepository) -> Option<Option<CommitId>> {
    repo.state()
        .ok()
        .map(|state| state.map(|version| version.commit))
}

/// With a state key, seals `change` on `parent`, the commit it is built on, recording the
/// position of the state as last fetched: the one place cfgupdate seals a commit.
pub(crate) fn seal(
    repo: &dyn ConfigRepository,
    key: Option<&StateKey>,
    parent: &CommitId,
    change: &mut Change,
) {
    if let Some(key) = key {
        crate::promotion::state::record_position(repo, key, &mut change.message);
        trailers::seal(&mut change.message, parent, key);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::RepoPath;
    use crate::memory::MemoryRepository;
    use crate::promotion::PromotionError;
    use crate::repository::{CommitMessage, FileChange, RepositoryErrorKind};

    /// A clock that never waits and counts how often it was asked to.
    #[derive(Default)]
    struct CountingClock {
        sleeps: Cell<u32>,
    }

    impl Clock for CountingClock {
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        }
        fn sleep(&self, _: Duration) {
            self.sleeps.set(self.sleeps.get() + 1);
        }
    }

    fn write_readme(text: &str) -> Change {
        let mut change = Change {
            message: CommitMessage {
                subject: "Write the readme".into(),
                ..CommitMessage::default()
            },
            ..Change::default()
        };
        change.files.insert(
            RepoPath::parse("README.md").unwrap(),
            FileChange::Write(text.as_bytes().to_vec()),
        );
        change
    }

    fn push_readme(
        repo: &mut MemoryRepository,
        clock: &CountingClock,
    ) -> Result<Option<(CommitId, ())>, RepositoryError> {
        push_intent(
            repo,
            clock,
            &RetryPolicy::default(),
            None,
            false,
            |attempts| {
                RepositoryError::new(RepositoryErrorKind::Unavailable, format!("{attempts}"))
            },
            |_, _| Ok(Some((write_readme("new\n"), ()))),
        )
    }

    use crate::publish::PublishError;
    use crate::snapshot::Snapshot;

    const GOOD: &str = "[[wave]]\nname = \"staging\"\nimages = \"images.json\"\ntargets = [\"s\"]\n\n[target.s]\nentrypoint = \"main.jsonnet\"\n";

    /// `push_intent` with `plan`, no key, the default retries and a clock that stands still.
    fn push_planned(
        repo: &mut dyn ConfigRepository,
        plan: impl FnMut(&dyn ConfigRepository, &CommitId) -> Result<Option<(Change, ())>, PublishError>,
    ) -> Result<Option<(CommitId, ())>, PublishError> {
        push_intent(
            repo,
            &crate::testing::ManualClock::at(SystemTime::UNIX_EPOCH),
            &RetryPolicy::default(),
            None,
            false,
            |attempts| PublishError::Contended { attempts },
            plan,
        )
    }

    /// Plans nothing, but first reads the pipeline at the tip, as every write does.
    fn read_pipeline(
        repo: &mut dyn ConfigRepository,
    ) -> Result<Option<(CommitId, ())>, PublishError> {
        push_planned(repo, |repo, tip| {
            Snapshot::at(repo, tip)?;
            Ok(None)
        })
    }

    #[test]
    fn a_push_the_remote_declines_is_tried_exactly_once_and_keeps_the_servers_words() {
        let mut repo = MemoryRepository::new(&[("README.md", "old\n")]);
        repo.refresh().unwrap();
        repo.decline_branch = Some("protected branch: master needs a review".into());
        let tip = repo.remote_tip().clone();
        let clock = CountingClock::default();
        let error = push_readme(&mut repo, &clock).unwrap_err();
        assert_eq!(error.kind, RepositoryErrorKind::Declined);
        assert_eq!(
            error.message,
            "the remote refused the push: protected branch: master needs a review"
        );
        assert_eq!(repo.pushes, 1, "one attempt, never a retry loop");
        assert_eq!(repo.fetches, 1, "no fetch after a decline");
        assert_eq!(clock.sleeps.get(), 0);
        assert_eq!(repo.remote_tip(), &tip, "nothing changed on the remote");
    }

    #[test]
    fn a_rejected_push_is_still_replayed_on_the_new_tip() {
        let mut repo = MemoryRepository::new(&[("README.md", "old\n"), ("other", "1\n")]);
        repo.refresh().unwrap();
        repo.person_pushes("A person's edit", |tree| {
            tree.insert(RepoPath::parse("other").unwrap(), b"2\n".to_vec());
        });
        let clock = CountingClock::default();
        let (commit, ()) = push_readme(&mut repo, &clock).unwrap().unwrap();
        assert_eq!(repo.remote_tip(), &commit);
        assert_eq!(repo.pushes, 2);
        assert_eq!(repo.rejections, 1);
        assert_eq!(repo.remote_text("other").as_deref(), Some("2\n"));
        assert_eq!(repo.remote_text("README.md").as_deref(), Some("new\n"));
    }

    #[test]
    fn a_state_push_the_remote_declines_is_tried_exactly_once() {
        let mut repo = MemoryRepository::new(&[("README.md", "old\n")]);
        repo.refresh().unwrap();
        repo.decline_state = Some("refs/cfgupdate/* is read-only here".into());
        let clock = CountingClock::default();
        let tip = repo.remote_tip().clone();
        let error = crate::promotion::state::update(
            &mut repo,
            &clock,
            &RetryPolicy::default(),
            None,
            &tip,
            "Record a report",
            crate::promotion::state::CatchUp::Along(&tip),
            |_| true,
        )
        .unwrap_err();
        let PromotionError::Repository(error) = error else {
            panic!("not a repository error: {error}");
        };
        assert_eq!(error.kind, RepositoryErrorKind::Declined);
        assert!(
            error.message.contains("read-only here"),
            "{}",
            error.message
        );
        assert_eq!(repo.pushes, 1);
        assert_eq!(clock.sleeps.get(), 0);
        assert_eq!(repo.state().unwrap(), None);
    }

    /// Plans on the tip, counting the plans, and refuses as invalid while the README says
    /// "broken".
    fn refuse_broken_readme(
        repo: &mut dyn ConfigRepository,
        plans: &Cell<u32>,
    ) -> Result<Option<(CommitId, ())>, PublishError> {
        push_planned(repo, |repo, tip| {
            plans.set(plans.get() + 1);
            let readme = repo
                .read_file(tip, &RepoPath::parse("README.md").unwrap())?
                .unwrap_or_default();
            if readme == b"broken\n" {
                // Class `Invalid`, as a render that fails or runs out of time.
                return Err(PublishError::Repository(RepositoryError::new(
                    RepositoryErrorKind::NotFound,
                    "the README is broken",
                )));
            }
            Ok(None)
        })
    }

    #[test]
    fn an_invalid_answer_on_a_tip_the_fetch_confirms_is_planned_once() {
        let mut repo = MemoryRepository::new(&[("README.md", "broken\n")]);
        repo.refresh().unwrap();
        let plans = Cell::new(0);
        let error = refuse_broken_readme(&mut repo, &plans).unwrap_err();
        assert_eq!(error.class(), ErrorClass::Invalid, "{error}");
        assert_eq!(repo.fetches, 2, "the answer was checked against a fetch");
        assert_eq!(plans.get(), 1, "the same tip and state were planned twice");
    }

    #[test]
    fn an_invalid_answer_is_planned_again_when_the_fetch_brings_a_new_tip_or_state() {
        let mut repo = MemoryRepository::new(&[("README.md", "broken\n")]);
        repo.refresh().unwrap();
        // Only the state moved: a hold may have been released.
        repo.person_pushes_state(b"{}");
        let plans = Cell::new(0);
        assert!(refuse_broken_readme(&mut repo, &plans).is_err());
        assert_eq!(plans.get(), 2);
        // The branch moved (a person fixed the README).
        repo.person_pushes("Fix the README", |tree| {
            tree.insert(RepoPath::parse("README.md").unwrap(), b"fixed\n".to_vec());
        });
        let plans = Cell::new(0);
        assert_eq!(refuse_broken_readme(&mut repo, &plans), Ok(None));
        assert_eq!(plans.get(), 2);
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
