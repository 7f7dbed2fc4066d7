//! The repository as the writer uses it: every fetch and push counted for `/metrics`, and the
//! last contact with the remote kept for `/readyz`, with the last push the remote declined.
//! It decides nothing, and reads nothing out of what it carries: the commits that landed are
//! counted by the writer from the core's answers, which say what each commit did.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cfgupdate_core::{Change, PairOutcome, PushOutcome};
use cfgupdate_core::{CommitId, ConfigRepository, RepositoryError, RepositoryErrorKind};

use crate::metrics::{Metrics, PushRef};

/// When the remote was last reached, the last failure to reach it, and a push it declined.
#[derive(Debug, Default)]
pub struct Health {
    inner: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    last_contact: Option<Instant>,
    last_failure: Option<String>,
    state_problem: Option<String>,
    /// The remote's refusal of the last push to the branch, until a push to it lands.
    declined_branch: Option<String>,
    /// The same for the state ref.
    declined_state: Option<String>,
    /// Why the branch's own files cannot be used, from the last answer that read them.
    broken: Option<String>,
    /// Since when the writer works on its current task (`None`: idle).
    busy_since: Option<Instant>,
}

impl Health {
    fn contact(&self) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_contact = Some(Instant::now());
        state.last_failure = None;
    }

    fn failure(&self, error: &RepositoryError) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_failure = Some(error.message.clone());
    }

    /// Why the pipeline state is not acted on, as the writer last saw it.
    pub fn state_problem(&self) -> Option<String> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.state_problem.clone()
    }

    /// Records what became of a push to `to`: a refusal stays until a push to the same ref
    /// lands, since only a person changing the remote can end it.
    fn push_result(&self, to: PushRef, result: &Result<PushOutcome, RepositoryError>) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match to {
            PushRef::Branch => &mut state.declined_branch,
            PushRef::State => &mut state.declined_state,
        };
        match result {
            Ok(PushOutcome::Pushed(_)) => *slot = None,
            Err(error) if error.kind == RepositoryErrorKind::Declined => {
                *slot = Some(error.message.clone());
            }
            Ok(PushOutcome::Rejected) | Err(_) => {}
        }
    }

    /// The remote's refusal of the last push (to the branch, else to the state ref) when no
    /// push to that ref has landed since.
    pub fn declined(&self) -> Option<String> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .declined_branch
            .clone()
            .or_else(|| state.declined_state.clone())
    }

    /// Records whether the branch's own files could be used, from an answer that read them
    /// at a freshly fetched tip (`None`: they could).
    pub(crate) fn branch(&self, broken: Option<String>) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.broken = broken;
    }

    /// Why the branch's own files cannot be used, if they cannot.
    pub fn broken(&self) -> Option<String> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.broken.clone()
    }

    /// The writer starts (`true`) or ends (`false`) a task.
    pub(crate) fn writer_busy(&self, busy: bool) {
        let mut state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.busy_since = busy.then(Instant::now);
    }

    /// How long the writer has been working on its current task (`None`: it is idle).
    pub fn writer_busy_for(&self) -> Option<Duration> {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        state.busy_since.map(|since| since.elapsed())
    }

    /// How long ago the remote was last reached (`None`: never), and the failure since, if any.
    pub fn last_contact(&self) -> (Option<Duration>, Option<String>) {
        let state = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            state.last_contact.map(|at| at.elapsed()),
            state.last_failure.clone(),
        )
    }
}

/// A repository whose traffic with the remote is counted and timed.
pub(crate) struct Observed {
    inner: Box<dyn ConfigRepository + Send>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl Observed {
    /// Keeps what the core says of the state for `/readyz`.
    pub(crate) fn note_state(&self, problem: Option<String>) {
        let mut state = self
            .health
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.state_problem = problem;
    }

    pub(crate) fn new(
        inner: Box<dyn ConfigRepository + Send>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            inner,
            metrics,
            health,
        }
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    fn remote<T>(&self, result: Result<T, RepositoryError>) -> Result<T, RepositoryError> {
        match &result {
            Ok(_) => self.health.contact(),
            Err(error) => {
                self.metrics.remote_error();
                if error.kind == RepositoryErrorKind::Unavailable {
                    self.health.failure(error);
                }
            }
        }
        result
    }

    fn pushed(
        &self,
        to: PushRef,
        result: Result<PushOutcome, RepositoryError>,
    ) -> Result<PushOutcome, RepositoryError> {
        let outcome = match &result {
            Ok(PushOutcome::Pushed(_)) => "pushed",
            Ok(PushOutcome::Rejected) => "rejected",
            Err(_) => "error",
        };
        self.metrics.push(to, outcome);
        self.health.push_result(to, &result);
        self.remote(result)
    }
}

impl ConfigRepository for Observed {
    cfgupdate_core::forward_reads!(inner);

    fn tip(&self) -> Result<CommitId, RepositoryError> {
        self.inner.tip()
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        self.metrics.fetch();
        let result = self.inner.refresh();
        self.remote(result)
    }

    fn is_fresh(&self) -> bool {
        self.inner.is_fresh()
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        let result = self.inner.commit_and_push(parent, change);
        self.pushed(PushRef::Branch, result)
    }

    /// One push of both refs, counted as what became of each.
    fn push_with_state(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        let result =
            self.inner
                .push_with_state(parent, change, state_parent, state_content, state_message);
        self.pair_pushed(result)
    }

    /// One push of both refs (atomic when the remote takes it), counted as what became of
    /// each.
    fn fast_forward_with_state(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        let result = self.inner.fast_forward_with_state(
            expected,
            to,
            state_parent,
            state_content,
            state_message,
        );
        self.pair_pushed(result)
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        let result = self.inner.push_state(parent, content, message);
        self.pushed(PushRef::State, result)
    }

    fn refresh_side(&mut self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.metrics.fetch();
        let result = self.inner.refresh_side(branch);
        self.remote(result)
    }

    fn create_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        self.inner.create_commit(parent, change)
    }

    /// Counted as a branch push: strict mode's automatic commits land on the auto branch.
    fn set_side(
        &mut self,
        branch: &str,
        expected: Option<&CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        let result = self.inner.set_side(branch, expected, to);
        self.pushed(PushRef::Branch, result)
    }

    fn fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        let result = self.inner.fast_forward(expected, to);
        self.pushed(PushRef::Branch, result)
    }
}

impl Observed {
    /// Counts what became of each ref of a push of both.
    fn pair_pushed(
        &mut self,
        result: Result<PairOutcome, RepositoryError>,
    ) -> Result<PairOutcome, RepositoryError> {
        let pair = match result {
            Ok(pair) => pair,
            Err(error) => {
                let _ = self.pushed(PushRef::Branch, Err(error.clone()));
                return Err(error);
            }
        };
        let (state, branch) = match &pair {
            PairOutcome::Pushed { commit, state } => (
                PushOutcome::Pushed(state.clone()),
                PushOutcome::Pushed(commit.clone()),
            ),
            PairOutcome::StateOnly(state) => {
                (PushOutcome::Pushed(state.clone()), PushOutcome::Rejected)
            }
            PairOutcome::BranchOnly(commit) => {
                (PushOutcome::Rejected, PushOutcome::Pushed(commit.clone()))
            }
            PairOutcome::Rejected => (PushOutcome::Rejected, PushOutcome::Rejected),
        };
        self.pushed(PushRef::State, Ok(state))?;
        self.pushed(PushRef::Branch, Ok(branch))?;
        Ok(pair)
    }
}
