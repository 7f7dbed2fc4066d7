//! Test doubles for programs that embed the core, and for cfgupdate's own tests (the cargo
//! feature `testing`): the in-memory repository with its fault hooks, a handle to share it with
//! a service while the test looks at it, a clock the test moves by hand, and the mockall mocks
//! of the ports.
//!
//! ```
//! use cfgupdate_core::testing::{ManualClock, MemoryRepository, SharedRepository};
//! use cfgupdate_core::{Clock, ConfigRepository};
//! use std::time::Duration;
//!
//! let mut repo = MemoryRepository::new(&[("README.md", "a config repository\n")]);
//! // The next push is rejected as stale, and a person's commit lands just before the one after.
//! repo.reject_next_pushes(1);
//! repo.race_next_push("A hand edit", |_files| {});
//! let shared = SharedRepository::new(repo);
//! // The service gets a clone; the test keeps the other and looks through it.
//! let _for_the_service: Box<dyn ConfigRepository + Send> = Box::new(shared.clone());
//! assert_eq!(shared.with(|repo| repo.remote_history().len()), 1);
//!
//! let clock = ManualClock::at_seconds(1_800_000_000);
//! clock.sleep(Duration::from_secs(30)); // waiting moves the clock, nothing sleeps
//! assert_eq!(clock.seconds(), 1_800_000_030);
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

pub use crate::clock::MockClock;
pub use crate::memory::{MemoryRepository, Tree};
pub use crate::repository::MockConfigRepository;

use crate::clock::Clock;
use crate::names::CommitId;
use crate::path::RepoPath;
use crate::repository::{
    Change, CommitInfo, ConfigRepository, PairOutcome, PushOutcome, RepositoryError, StateVersion,
};

/// A clock the test moves by hand. Waiting ([`Clock::sleep`], a retry's backoff) moves it
/// too, so time only ever goes forward and no test ever sleeps. It can be shared between
/// threads (a service and the test).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn at(now: SystemTime) -> Self {
        Self {
            now: Mutex::new(now),
        }
    }

    /// A clock showing `seconds` after the Unix epoch.
    pub fn at_seconds(seconds: u64) -> Self {
        Self::at(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// Time passes.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    /// Whole seconds since the Unix epoch (0 for a time before it).
    pub fn seconds(&self) -> u64 {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

/// Which refs a push through a [`SharedRepository`] is about to update, as its push hook is
/// told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The branch ([`ConfigRepository::commit_and_push`]).
    Branch,
    /// The state ref ([`ConfigRepository::push_state`]).
    State,
    /// Both at once ([`ConfigRepository::push_with_state`],
    /// [`ConfigRepository::fast_forward_with_state`]).
    Both,
}

/// What a [`SharedRepository`] runs before each push, outside its lock.
type PushHook = Arc<dyn Fn(Push) + Send + Sync>;

/// A [`MemoryRepository`] behind a lock, so that a service (which wants a
/// `ConfigRepository + Send` of its own) and the test driving it see the same remote: clones
/// share it. Each push can first run a hook of the test's ([`before_each_push`]), outside the
/// lock, to make the push take time or wait at a gate the test opens; the core itself never
/// sleeps.
///
/// [`before_each_push`]: SharedRepository::before_each_push
#[derive(Clone)]
pub struct SharedRepository {
    repo: Arc<Mutex<MemoryRepository>>,
    before_push: Option<PushHook>,
}

impl std::fmt::Debug for SharedRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRepository")
            .field("repo", &self.repo)
            .field("before_push", &self.before_push.is_some())
            .finish()
    }
}

impl SharedRepository {
    /// Shares `repo`.
    pub fn new(repo: MemoryRepository) -> Self {
        Self {
            repo: Arc::new(Mutex::new(repo)),
            before_push: None,
        }
    }

    /// Runs `hook` before every push through this handle and its clones made afterwards, told
    /// which refs the push is for (for example `move |_| std::thread::sleep(delay)`, or a wait
    /// on a channel the test sends to), without holding the lock, so the test can look at the
    /// remote meanwhile.
    pub fn before_each_push(mut self, hook: impl Fn(Push) + Send + Sync + 'static) -> Self {
        self.before_push = Some(Arc::new(hook));
        self
    }

    /// Runs `f` on the repository (to look at the remote, have a person push, or set a hook).
    pub fn with<T>(&self, f: impl FnOnce(&mut MemoryRepository) -> T) -> T {
        f(&mut self.repo.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn pushing<T>(&self, push: Push, f: impl FnOnce(&mut MemoryRepository) -> T) -> T {
        if let Some(hook) = &self.before_push {
            hook(push);
        }
        self.with(f)
    }
}

impl ConfigRepository for SharedRepository {
    fn tip(&self) -> Result<CommitId, RepositoryError> {
        self.with(|r| r.tip())
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        self.with(|r| r.refresh())
    }

    fn is_fresh(&self) -> bool {
        self.with(|r| r.is_fresh())
    }

    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, RepositoryError> {
        self.with(|r| r.read_file(revision, path))
    }

    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, RepositoryError> {
        self.with(|r| r.list_files(revision, under))
    }

    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, RepositoryError> {
        self.with(|r| r.is_ancestor(ancestor, descendant))
    }

    fn log(&self, from: &CommitId, limit: usize) -> Result<Vec<CommitInfo>, RepositoryError> {
        self.with(|r| r.log(from, limit))
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        self.pushing(Push::Branch, |r| r.commit_and_push(parent, change))
    }

    fn state(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.with(|r| r.state())
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        self.pushing(Push::State, |r| r.push_state(parent, content, message))
    }

    fn push_with_state(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        self.pushing(Push::Both, |r| {
            r.push_with_state(parent, change, state_parent, state_content, state_message)
        })
    }

    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.with(|r| r.state_anchor())
    }

    fn side_tip(&self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.with(|r| r.side_tip(branch))
    }

    fn refresh_side(&mut self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.with(|r| r.refresh_side(branch))
    }

    fn create_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        self.with(|r| r.create_commit(parent, change))
    }

    fn set_side(
        &mut self,
        branch: &str,
        expected: Option<&CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.pushing(Push::Branch, |r| r.set_side(branch, expected, to))
    }

    fn fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.pushing(Push::Branch, |r| r.fast_forward(expected, to))
    }

    fn fast_forward_with_state(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        self.pushing(Push::Both, |r| {
            r.fast_forward_with_state(expected, to, state_parent, state_content, state_message)
        })
    }

    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        self.with(|r| r.set_state_anchor(commit))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::repository::{CommitMessage, FileChange};

    fn change(path: &str, text: &str) -> Change {
        Change {
            files: [(
                RepoPath::parse(path).unwrap(),
                FileChange::Write(text.as_bytes().to_vec()),
            )]
            .into(),
            message: CommitMessage {
                subject: format!("Write {path}"),
                ..CommitMessage::default()
            },
        }
    }

    fn file(path: &str) -> RepoPath {
        RepoPath::parse(path).unwrap()
    }

    #[test]
    fn the_next_n_pushes_are_rejected_and_the_one_after_lands() {
        let mut repo = MemoryRepository::new(&[("a", "1\n")]);
        let tip = repo.refresh().unwrap();
        repo.reject_next_pushes(2);
        for _ in 0..2 {
            assert_eq!(
                repo.commit_and_push(&tip, &change("a", "2\n")).unwrap(),
                PushOutcome::Rejected
            );
            assert!(!repo.is_fresh(), "a rejection sends the core back to fetch");
            assert_eq!(repo.remote_tip(), &tip, "nothing landed");
        }
        assert_eq!(repo.rejections, 2);
        repo.refresh().unwrap();
        assert!(matches!(
            repo.commit_and_push(&tip, &change("a", "2\n")).unwrap(),
            PushOutcome::Pushed(_)
        ));
        assert_eq!(repo.remote_text("a").as_deref(), Some("2\n"));
    }

    #[test]
    fn a_rejection_hook_counts_a_push_of_both_refs_once() {
        let mut repo = MemoryRepository::new(&[("a", "1\n")]);
        let tip = repo.refresh().unwrap();
        repo.reject_next_pushes(1);
        let pair = |repo: &mut MemoryRepository| {
            repo.push_with_state(&tip, &change("a", "2\n"), None, b"{}", "State\n")
                .unwrap()
        };
        assert_eq!(pair(&mut repo), PairOutcome::Rejected);
        assert!(repo.remote_state().is_none(), "neither ref moved");
        assert!(matches!(pair(&mut repo), PairOutcome::Pushed { .. }));
        assert_eq!((repo.pushes, repo.rejections), (2, 1));
    }

    #[test]
    fn a_raced_commit_lands_before_the_push_which_is_then_stale() {
        let mut repo = MemoryRepository::new(&[("a", "1\n"), ("b", "1\n")]);
        let tip = repo.refresh().unwrap();
        repo.race_next_push("A person edits b", |files| {
            files.insert(RepoPath::parse("b").unwrap(), b"person\n".to_vec());
        });
        assert_eq!(
            repo.commit_and_push(&tip, &change("a", "2\n")).unwrap(),
            PushOutcome::Rejected
        );
        assert_eq!(repo.raced().len(), 1);
        assert_eq!(repo.remote_tip(), &repo.raced()[0]);
        assert_eq!(repo.remote_text("b").as_deref(), Some("person\n"));
        // The race fired once: built on the new tip, the next push lands.
        let tip = repo.refresh().unwrap();
        assert!(matches!(
            repo.commit_and_push(&tip, &change("a", "2\n")).unwrap(),
            PushOutcome::Pushed(_)
        ));
        assert_eq!(
            repo.read_file(&tip, &file("b")).unwrap().unwrap(),
            b"person\n"
        );
        assert_eq!(repo.cancel_races(), 0);
    }

    #[test]
    fn a_shared_repository_runs_its_push_hook_outside_the_lock() {
        let shared = SharedRepository::new(MemoryRepository::new(&[("a", "1\n")]));
        let looked = Arc::new(AtomicUsize::new(0));
        let (hook_looked, observer) = (looked.clone(), shared.clone());
        let mut service = shared.clone().before_each_push(move |push| {
            assert_eq!(push, Push::Branch);
            // Would deadlock if the hook ran while the push holds the lock.
            let commits = observer.with(|repo| repo.remote_history().len());
            hook_looked.fetch_add(commits, Ordering::SeqCst);
        });
        let tip = service.refresh().unwrap();
        assert!(matches!(
            service.commit_and_push(&tip, &change("a", "2\n")).unwrap(),
            PushOutcome::Pushed(_)
        ));
        assert_eq!(
            looked.load(Ordering::SeqCst),
            1,
            "the hook saw the remote before"
        );
        assert_eq!(shared.with(|repo| repo.remote_history().len()), 2);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_or_waited_on() {
        let clock = ManualClock::at_seconds(100);
        assert_eq!(clock.seconds(), 100);
        clock.advance(Duration::from_secs(5));
        clock.sleep(Duration::from_secs(10));
        assert_eq!(clock.seconds(), 115);
    }

    #[test]
    fn the_mocks_stand_in_for_the_ports() {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(SystemTime::UNIX_EPOCH + Duration::from_secs(7));
        assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(7));
        let mut repo = MockConfigRepository::new();
        repo.expect_is_fresh().return_const(true);
        assert!(repo.is_fresh());
    }
}
