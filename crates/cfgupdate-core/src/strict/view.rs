//! [`Strict`]: the repository whose branch is the auto branch while strict mode is on.

use std::sync::Arc;

use super::gate::{Gate, defer_again, gate};
use super::record::{Eviction, StrictRecord};
use super::replay::{Gates, Pending, pending, replay};
use crate::clock::Clock;
use crate::intent::WriteOptions;
use crate::names::CommitId;
use crate::promotion::PromotionError;
use crate::promotion::holds::Holds;
use crate::promotion::state::PipelineState;
use crate::promotion::state::{self, CatchUp};
use crate::repository::{
    Change, CommitInfo, ConfigRepository, PairOutcome, PushOutcome, RepositoryError,
    RepositoryErrorKind,
};
use crate::snapshot::Snapshot;

/// How many times a fetch tries to bring the auto branch up to date while other processes
/// move it or the main branch.
const SYNC_ATTEMPTS: u32 = 8;

/// A [`ConfigRepository`] that routes automatic commits through strict mode's auto branch
/// when the main branch's `cfgupdate.toml` has a `[strict]` table, and passes everything
/// through otherwise. It dereferences to the repository it wraps.
///
/// ```
/// use std::sync::Arc;
/// use cfgupdate_core::strict::Strict;
/// use cfgupdate_core::{ConfigRepository, MemoryRepository, SystemClock, WriteOptions};
///
/// let pipeline = "[strict]\nbranch = \"auto\"\n\n[[wave]]\nname = \"staging\"\nimages = \"i.json\"\ntargets = [\"s\"]\n\n[target.s]\nentrypoint = \"s.jsonnet\"\n";
/// let memory = MemoryRepository::new(&[("cfgupdate.toml", pipeline)]);
/// let mut repo = Strict::new(memory, Arc::new(SystemClock), WriteOptions::default());
/// let tip = repo.refresh()?;
/// assert_eq!(repo.auto_branch(), Some("auto"));
/// // Nothing waits yet: the auto branch's view is the main branch.
/// assert_eq!(&tip, repo.inner().remote_tip());
/// # Ok::<(), cfgupdate_core::RepositoryError>(())
/// ```
pub struct Strict<R> {
    inner: R,
    clock: Arc<dyn Clock + Send + Sync>,
    options: WriteOptions,
    /// The auto branch's name while strict mode is on, as the main branch said at the last
    /// fetch; `None` inside when it is off; `None` outside before the first fetch.
    mode: Option<Option<String>>,
    /// The main branch's tip at the last fetch.
    main: Option<CommitId>,
    /// The auto branch on the remote as last fetched or pushed (`None`: it does not exist).
    side: Option<CommitId>,
    /// The view's tip: the auto branch's when changes wait, else the main branch's.
    view: Option<CommitId>,
    /// Whether `side` is known to be current.
    side_fresh: bool,
    /// Changes rebuilds dropped that this process recorded first and no answer carried yet:
    /// [`Strict::take_dropped`] hands each out once.
    unreported: Vec<Eviction>,
    /// The auto branch of a strict mode the main branch turned off, while changes waiting
    /// there are still to land on the main branch.
    turned_off: Option<String>,
}

impl<R> std::ops::Deref for Strict<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.inner
    }
}

impl<R> std::ops::DerefMut for Strict<R> {
    fn deref_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: ConfigRepository> Strict<R> {
    /// Wraps `inner`; `options` (retry, render limits and key) are those of the writes made
    /// through it, which a rebuild of the auto branch uses as well.
    pub fn new(inner: R, clock: Arc<dyn Clock + Send + Sync>, options: WriteOptions) -> Self {
        Self {
            inner,
            clock,
            options,
            mode: None,
            main: None,
            side: None,
            view: None,
            side_fresh: false,
            unreported: Vec::new(),
            turned_off: None,
        }
    }

    /// The repository wrapped.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The repository wrapped, to read the main branch as it is (`status` shows the waves
    /// as Argo CD deploys them).
    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The repository wrapped, unwrapped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The auto branch while strict mode is on (as of the last fetch).
    pub fn auto_branch(&self) -> Option<&str> {
        self.mode.as_ref().and_then(|mode| mode.as_deref())
    }

    /// The main branch's tip as of the last fetch.
    pub fn main_tip(&self) -> Option<&CommitId> {
        self.main.as_ref()
    }

    /// The auto branch's tip on the remote as of the last fetch (`None`: absent).
    pub fn side_tip_fetched(&self) -> Option<&CommitId> {
        self.side.as_ref()
    }

    /// The options of the writes made through it.
    pub fn options(&self) -> &WriteOptions {
        &self.options
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The strict mode `cfgupdate.toml` at `main` asks for: `Ok(None)` when off, an error
    /// when the file cannot be read (then nothing is decided from it).
    fn mode_at(&self, main: &CommitId) -> Result<Option<String>, ()> {
        match Snapshot::at(&self.inner, main) {
            Ok(snapshot) => Ok(snapshot
                .pipeline()
                .strict
                .as_ref()
                .map(|s| s.branch.clone())),
            Err(_) => Err(()),
        }
    }

    /// The CI checks `[strict] contexts` at `main` requires (empty: none named, or the file
    /// cannot be read).
    pub(crate) fn required_contexts(&self, main: &CommitId) -> Vec<String> {
        Snapshot::at(&self.inner, main)
            .ok()
            .and_then(|snapshot| {
                snapshot
                    .pipeline()
                    .strict
                    .as_ref()
                    .map(|s| s.contexts.clone())
            })
            .unwrap_or_default()
    }

    /// The mode as last fetched, or, before any fetch, as the cached main branch says.
    fn mode_now(&self) -> Result<Option<String>, RepositoryError> {
        if let Some(mode) = &self.mode {
            return Ok(mode.clone());
        }
        let main = self.inner.tip()?;
        self.mode_at(&main).map_err(|()| not_fetched())
    }

    /// The strict mode part of the pipeline state as last fetched (empty when the state
    /// cannot be acted on: a rebuild then decides only from the branches).
    pub(crate) fn record(&self, tip: &CommitId) -> StrictRecord {
        state::load(&self.inner, self.options.key.as_ref(), tip)
            .map(|state| state.strict)
            .unwrap_or_default()
    }

    /// The pipeline state as last fetched, holds caught up to `main` (empty when the state
    /// cannot be acted on: a rebuild then decides only from the branches).
    pub(crate) fn state_at(&self, main: &CommitId) -> PipelineState {
        state::load(&self.inner, self.options.key.as_ref(), main).unwrap_or_default()
    }

    /// Records `update` in the pipeline state (replayed on the newest state after a
    /// rejection); `update` returns whether it changed anything.
    pub(crate) fn update_record(
        &mut self,
        message: &str,
        mut update: impl FnMut(&mut StrictRecord) -> bool,
    ) -> Result<StrictRecord, PromotionError> {
        Ok(self
            .update_state(message, |state| update(&mut state.strict))?
            .strict)
    }

    /// As [`Strict::update_record`], with the whole state (holds, deferred announcements).
    pub(crate) fn update_state(
        &mut self,
        message: &str,
        mut update: impl FnMut(&mut PipelineState) -> bool,
    ) -> Result<PipelineState, PromotionError> {
        let main = match &self.main {
            Some(main) => main.clone(),
            None => self.inner.refresh()?,
        };
        let clock = self.clock.clone();
        let state = state::update(
            &mut self.inner,
            &*clock,
            &self.options.retry,
            self.options.key.as_ref(),
            &main,
            message,
            CatchUp::Along(&main),
            |state| update(state),
        )?;
        Ok(state)
    }

    /// `update` applied to the pipeline state as last fetched along the main branch `main`,
    /// in memory ([`state::prepare`]): the document to push, or `None` when nothing changed.
    pub(crate) fn prepare_state(
        &self,
        main: &CommitId,
        update: &mut dyn FnMut(&mut PipelineState) -> bool,
    ) -> Result<Option<state::PreparedState>, PromotionError> {
        let key = self.options.key.as_ref();
        let (_, prepared) = state::prepare(
            &self.inner,
            &*self.clock,
            key,
            main,
            CatchUp::Along(main),
            update,
        )?;
        Ok(prepared)
    }

    /// Takes note that the state commit `commit` this process pushed landed.
    pub(crate) fn state_landed(&self, commit: &CommitId) {
        state::landed(&self.inner, self.options.key.as_ref(), commit);
    }

    /// Fetches both branches and brings the auto branch up to "main plus the pending
    /// changes": rolls forward an accepted commit whose fast-forward did not happen, and
    /// rebuilds when the main branch moved, a pending change was evicted, or one is held or
    /// frozen now. Returns the changes a rebuild dropped (each recorded once in the state).
    pub(crate) fn sync(&mut self) -> Result<Vec<Eviction>, PromotionError> {
        self.sync_with(false)
    }

    /// As [`Strict::sync`]; with `force`, the auto branch is rebuilt from the changes'
    /// trailers even when nothing else calls for it (a commit on it is not one cfgupdate
    /// made).
    pub(crate) fn sync_with(&mut self, force: bool) -> Result<Vec<Eviction>, PromotionError> {
        let mut dropped = Vec::new();
        match self.sync_into(force, &mut dropped) {
            Ok(()) => Ok(dropped),
            // Drops recorded before the failure were recorded once, for this process to hand
            // out: kept for `take_dropped`, never lost with the error.
            Err(error) => {
                self.unreported.extend(dropped);
                Err(error)
            }
        }
    }

    /// [`Strict::sync_with`], adding each drop to `dropped` as soon as it is recorded.
    fn sync_into(
        &mut self,
        force: bool,
        dropped: &mut Vec<Eviction>,
    ) -> Result<(), PromotionError> {
        for _ in 0..SYNC_ATTEMPTS {
            let main = self.inner.refresh()?;
            self.main = Some(main.clone());
            let was = self.auto_branch().map(str::to_owned);
            let branch = match self.mode_at(&main) {
                Ok(mode) => {
                    self.mode = Some(mode.clone());
                    mode
                }
                // A broken pipeline file: the mode stays what it was (off before the first
                // fetch; the write reading the same file fails then anyway).
                Err(()) => self.mode.clone().flatten(),
            };
            let Some(branch) = branch else {
                self.side = None;
                self.view = None;
                if let Some(was) = was {
                    self.turned_off = Some(was);
                }
                if let Some(old) = self.turned_off.clone() {
                    if self.land_waiting(&old, &main)? {
                        continue;
                    }
                    self.turned_off = None;
                }
                return Ok(());
            };
            let side = self.inner.refresh_side(&branch)?;
            self.side = side.clone();
            self.side_fresh = true;
            let Some(side) = side else {
                self.view = Some(main);
                return Ok(());
            };
            let state = self.state_at(&main);
            let record = &state.strict;
            let chain = pending(&self.inner, &side, &main)?;
            // An accepted commit the main branch was not moved to yet (the process that
            // accepted it stopped between the two pushes): move it now.
            if let Some(accepted) = &record.accepted
                && chain.base.as_ref() == Some(&main)
                && chain.commits.iter().any(|c| &c.id == accepted)
            {
                match self.inner.fast_forward(&main, accepted)? {
                    PushOutcome::Pushed(_) | PushOutcome::Rejected => continue,
                }
            }
            let clean = self.stands(&chain, &main, &state);
            if clean && !force {
                self.view = Some(if chain.commits.is_empty() { main } else { side });
                return Ok(());
            }
            let rebuilt = self.rebuild(&main, &chain, record, &state.holds)?;
            // With a key, the commits made are recorded before they are pushed: only those
            // may reach the main branch.
            let made: &[CommitId] = if self.options.key.is_some() {
                &rebuilt.made
            } else {
                &[]
            };
            let gone: Vec<CommitId> = chain.commits.iter().map(|c| c.id.clone()).collect();
            // With a key, the ids of the commits left behind are forgotten too, even when the
            // rebuild made nothing (the last waiting change was evicted, say).
            let forget = self.options.key.is_some() && !gone.is_empty();
            if !rebuilt.dropped.is_empty() || !made.is_empty() || forget {
                let made = made.to_vec();
                dropped.extend(self.record_rebuild(
                    "Rebuild the auto branch",
                    &rebuilt,
                    &made,
                    &gone,
                )?);
            }
            match self.inner.set_side(&branch, Some(&side), &rebuilt.tip)? {
                PushOutcome::Pushed(_) => {
                    self.side = Some(rebuilt.tip.clone());
                    self.view = Some(rebuilt.tip);
                    return Ok(());
                }
                PushOutcome::Rejected => continue,
            }
        }
        Err(PromotionError::Contended {
            attempts: SYNC_ATTEMPTS,
        })
    }

    /// [`Strict::sync`], keeping the changes it dropped for [`Strict::take_dropped`]: every
    /// fetch (the one each command and each request starts with) may rebuild the auto branch.
    pub(crate) fn sync_noting(&mut self) -> Result<(), PromotionError> {
        let dropped = self.sync()?;
        self.unreported.extend(dropped);
        Ok(())
    }

    /// The changes a rebuild of the auto branch dropped (a person set the image, or removed
    /// the wave or the service) during this repository's fetches since the last call, and that
    /// no [`CheckOutcome::Evicted`](super::CheckOutcome::Evicted) carried. Each drop is
    /// recorded in the pipeline state by a compare-and-swap, and only the process whose record
    /// landed first gets it here, so a drop is handed out once across every replica and
    /// command: the service sends its `refused` notification for each.
    pub fn take_dropped(&mut self) -> Vec<Eviction> {
        std::mem::take(&mut self.unreported)
    }

    /// Keeps drops a rebuild returned for [`Strict::take_dropped`] to hand out.
    pub(crate) fn note_dropped(&mut self, dropped: Vec<Eviction>) {
        self.unreported.extend(dropped);
    }

    /// Whether the main branch moved since the last fetch. A push to the auto branch is
    /// never rejected because a person pushed to the main branch, so a write planned on an
    /// older fetch looks before it lands: else the next rebuild takes what the person set
    /// before the change for a change of theirs made since, and drops it.
    fn main_moved(&mut self) -> Result<bool, RepositoryError> {
        let remote = self.inner.refresh()?;
        Ok(self.main.as_ref() != Some(&remote))
    }

    /// Strict mode was turned off (the main branch's `cfgupdate.toml` lost its `[strict]`
    /// table): automatic commits go to the main branch again, so the changes still waiting on
    /// the auto branch `old` are replayed onto it as ordinary automatic commits, and the auto
    /// branch is moved to the result. Returns whether anything was pushed (or a push was
    /// rejected): then the branches are fetched again.
    fn land_waiting(&mut self, old: &str, main: &CommitId) -> Result<bool, PromotionError> {
        let Some(side) = self.inner.refresh_side(old)? else {
            return Ok(false);
        };
        let chain = pending(&self.inner, &side, main)?;
        if chain.commits.is_empty() {
            return Ok(false);
        }
        let state = self.state_at(main);
        // Built on the main branch as it stands (another replica that lands them moved the
        // auto branch there first, or a process stopped between its two pushes): the main
        // branch only moves to it. Rejected or not, the branches are fetched again.
        if self.stands(&chain, main, &state) {
            self.inner.fast_forward(main, &side)?;
            return Ok(true);
        }
        // Holds and freeze windows count here as in every rebuild.
        let rebuilt = self.rebuild(main, &chain, &state.strict, &state.holds)?;
        // The waiting commits' ids are no longer needed: strict mode is off.
        let gone: Vec<CommitId> = chain.commits.iter().map(|c| c.id.clone()).collect();
        let fresh = self.record_rebuild(
            "Record the changes dropped from the auto branch",
            &rebuilt,
            &[],
            &gone,
        )?;
        self.unreported.extend(fresh);
        // The auto branch first, a compare-and-swap: of replicas landing at once, the one whose
        // push lands goes on, and the others find its rebuild built on the main branch (the
        // drops each recorded are the same, recorded once). Replaying again on a main branch
        // that already held the changes would report them dropped.
        if let PushOutcome::Rejected = self.inner.set_side(old, Some(&side), &rebuilt.tip)? {
            return Ok(true);
        }
        if &rebuilt.tip != main {
            self.inner.fast_forward(main, &rebuilt.tip)?;
        }
        Ok(true)
    }

    /// Whether the waiting `chain` stands as it is: built on `main`, and no change on it
    /// evicted, made by someone else (with a key), or held or frozen now (docs/strict.md).
    fn stands(&self, chain: &Pending, main: &CommitId, state: &PipelineState) -> bool {
        let key = self.options.key.as_ref();
        let pipeline = Snapshot::at(&self.inner, main)
            .ok()
            .map(|snapshot| snapshot.pipeline().clone());
        let now = self.clock.now();
        // A change held or frozen since it was queued goes no further.
        let open = |c: &CommitInfo| {
            pipeline
                .as_ref()
                .is_none_or(|p| gate(&c.message, p, &state.holds, now) == Gate::Open)
        };
        chain.base.as_ref() == Some(main)
            && chain.commits.iter().all(|c| {
                !state.strict.is_evicted(&c.id) && crate::trailers::is_trusted(c, key) && open(c)
            })
    }

    /// Records what a rebuild did in the pipeline state: the ids of the commits it `made`
    /// (with a key) and of those it left behind (`gone`), and the changes it dropped, each
    /// once (a publish a freeze dropped joins the announcements deferred on arrival, with its
    /// drop's record). Returns the drops this process recorded first.
    fn record_rebuild(
        &mut self,
        message: &str,
        rebuilt: &super::replay::Rebuilt,
        made: &[CommitId],
        gone: &[CommitId],
    ) -> Result<Vec<Eviction>, PromotionError> {
        let now = state::millis(self.clock.now());
        let mut fresh = Vec::new();
        self.update_state(message, |state| {
            let noted = state.strict.note_built(made, gone);
            fresh.clear();
            for drop in &rebuilt.dropped {
                let mut drop = drop.clone();
                drop.at = now;
                if state.strict.add_eviction(drop.clone()) {
                    fresh.push(drop);
                }
            }
            if !fresh.is_empty() {
                defer_again(state, &rebuilt.deferred);
            }
            noted || !fresh.is_empty()
        })?;
        Ok(fresh)
    }

    fn rebuild(
        &mut self,
        main: &CommitId,
        chain: &Pending,
        record: &StrictRecord,
        holds: &Holds,
    ) -> Result<super::replay::Rebuilt, RepositoryError> {
        let options = self.options;
        let gates = Gates {
            holds,
            now: self.clock.now(),
        };
        let now = state::millis(gates.now);
        replay(&mut self.inner, &options, main, chain, record, &gates, now)
    }
}

/// What spares a green CI result the fetches around it (docs/benchmarks.md, issue 14): the
/// decision is taken on the branches as this process last fetched or pushed them when they are
/// known current, as a publish is planned on its cache. Every step after it is a
/// compare-and-swap (the state, then the main branch), so a change made elsewhere meanwhile is
/// found out there: a rejected state push takes the decision again on the fetched state, a
/// rejected fast-forward fetches the branches.
impl<R: ConfigRepository> Strict<R> {
    /// Whether `commit` waits on the auto branch as last fetched or pushed by this process,
    /// and a fetch now would change nothing this process knows of: strict mode is on, the
    /// main branch and the auto branch are current as far as this process knows, the auto
    /// branch is built on the main branch, no change on it was evicted or is untrusted, and
    /// no accepted commit waits to be rolled forward.
    pub(super) fn knows_pending(&self, commit: &CommitId) -> bool {
        let (Some(Some(_)), Some(main), Some(side)) = (&self.mode, &self.main, &self.side) else {
            return false;
        };
        if !self.side_fresh || !self.inner.is_fresh() {
            return false;
        }
        let Ok(chain) = pending(&self.inner, side, main) else {
            return false;
        };
        let record = self.record(main);
        let key = self.options.key.as_ref();
        chain.base.as_ref() == Some(main)
            && chain.commits.iter().any(|c| &c.id == commit)
            && !chain
                .commits
                .iter()
                .any(|c| record.accepted.as_ref() == Some(&c.id))
            && chain
                .commits
                .iter()
                .all(|c| !record.is_evicted(&c.id) && crate::trailers::is_trusted(c, key))
    }

    /// Takes note that this process fast-forwarded the main branch to `commit`, a commit of
    /// the auto branch: the auto branch did not move (the changes after `commit` still wait
    /// on it, now built on the main branch), so nothing needs fetching.
    pub(super) fn fast_forwarded(&mut self, commit: &CommitId) {
        self.main = Some(commit.clone());
        self.view = Some(self.side.clone().unwrap_or_else(|| commit.clone()));
    }
}

fn not_fetched() -> RepositoryError {
    RepositoryError::new(
        RepositoryErrorKind::NotFound,
        "the branches were not fetched yet",
    )
}

fn as_repository_error(error: PromotionError) -> RepositoryError {
    match error {
        PromotionError::Repository(error) => error,
        PromotionError::Contended { attempts } => RepositoryError::new(
            RepositoryErrorKind::Unavailable,
            format!(
                "the auto branch kept moving: {attempts} attempts to bring it up to date were rejected; try again"
            ),
        ),
        other => RepositoryError::new(
            RepositoryErrorKind::Failed,
            format!("the auto branch could not be brought up to date: {other}"),
        ),
    }
}

impl<R: ConfigRepository> ConfigRepository for Strict<R> {
    crate::forward_reads!(inner);

    fn tip(&self) -> Result<CommitId, RepositoryError> {
        match self.mode_now()? {
            None => self.inner.tip(),
            Some(_) => self.view.clone().ok_or_else(not_fetched),
        }
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        self.sync_noting().map_err(as_repository_error)?;
        match &self.view {
            Some(view) => Ok(view.clone()),
            None => self.inner.tip(),
        }
    }

    fn is_fresh(&self) -> bool {
        self.inner.is_fresh() && (self.auto_branch().is_none() || self.side_fresh)
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        let Some(branch) = self.mode_now()? else {
            return self.inner.commit_and_push(parent, change);
        };
        if self.view.as_ref() != Some(parent) || !self.side_fresh || self.main_moved()? {
            // Built on something else than the auto branch as fetched: fetch and replan.
            self.side_fresh = false;
            return Ok(PushOutcome::Rejected);
        }
        let commit = self.inner.create_commit(parent, change)?;
        if self.options.key.is_some() {
            // Recorded before the push: the main branch only ever moves through commits
            // cfgupdate made (docs/strict.md#what-is-stored).
            self.update_record("Record a commit made for the auto branch", |r| {
                r.note_built([&commit], &[])
            })
            .map_err(as_repository_error)?;
        }
        let expected = self.side.clone();
        match self.inner.set_side(&branch, expected.as_ref(), &commit)? {
            PushOutcome::Pushed(_) => {
                self.side = Some(commit.clone());
                self.view = Some(commit.clone());
                Ok(PushOutcome::Pushed(commit))
            }
            PushOutcome::Rejected => {
                self.side_fresh = false;
                Ok(PushOutcome::Rejected)
            }
        }
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        self.inner.push_state(parent, content, message)
    }

    fn push_with_state(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        if self.mode_now()?.is_none() {
            return self.inner.push_with_state(
                parent,
                change,
                state_parent,
                state_content,
                state_message,
            );
        }
        // The state first, then the auto branch: the order of the trait's default.
        let state = match self
            .inner
            .push_state(state_parent, state_content, state_message)?
        {
            PushOutcome::Pushed(state) => state,
            PushOutcome::Rejected => return Ok(PairOutcome::Rejected),
        };
        Ok(match self.commit_and_push(parent, change)? {
            PushOutcome::Pushed(commit) => PairOutcome::Pushed { commit, state },
            PushOutcome::Rejected => PairOutcome::StateOnly(state),
        })
    }

    fn refresh_side(&mut self, branch: &str) -> Result<Option<CommitId>, RepositoryError> {
        self.inner.refresh_side(branch)
    }

    fn create_commit(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<CommitId, RepositoryError> {
        self.inner.create_commit(parent, change)
    }

    fn set_side(
        &mut self,
        branch: &str,
        expected: Option<&CommitId>,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.inner.set_side(branch, expected, to)
    }

    fn fast_forward(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
    ) -> Result<PushOutcome, RepositoryError> {
        self.inner.fast_forward(expected, to)
    }

    fn fast_forward_with_state(
        &mut self,
        expected: &CommitId,
        to: &CommitId,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        self.inner
            .fast_forward_with_state(expected, to, state_parent, state_content, state_message)
    }
}
