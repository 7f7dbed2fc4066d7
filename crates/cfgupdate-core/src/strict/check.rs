//! CI results: green fast-forwards the main branch to the commit, red evicts the commit's
//! change and rebuilds the auto branch without it, pending is recorded. The decision is
//! recorded in the pipeline state first (a compare-and-swap every replica goes through), and
//! the branches follow it.

use super::Strict;
use super::gate::{Gate, gate};
use super::record::{CheckRecord, CheckState, Eviction, EvictionKind};
use super::replay::pending;
use crate::class::{Classify, ErrorClass};
use crate::names::CommitId;
use crate::promotion::PromotionError;
use crate::promotion::state;
use crate::promotion::state::PipelineState;
use crate::repository::{ConfigRepository, PairOutcome, PushOutcome, RepositoryError};
use crate::shown::shown;
use crate::snapshot::Snapshot;

/// A CI result for one commit of the auto branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The commit CI checked.
    pub commit: CommitId,
    /// What it said.
    pub state: CheckState,
    /// CI's name for the check (may be empty).
    pub context: String,
}

/// Why a CI result changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// The main branch's `cfgupdate.toml` has no `[strict]` table.
    NotStrict,
    /// The commit is not on the auto branch (any more): it was rebuilt since, or CI checked
    /// another branch. A stale result changes nothing.
    NotPending,
    /// The main branch holds the commit already.
    Accepted,
    /// The commit's change was evicted, or dropped by a rebuild, already.
    Evicted,
    /// A red result for a commit that a later green result already brought onto the main
    /// branch, or a green result for a commit whose change is behind an evicted one: the
    /// first decision recorded stands.
    Decided,
    /// A green result for a commit holding a change that a hold or a freeze window placed
    /// since it was queued now keeps off the main branch: the change was dropped from the
    /// auto branch (`status` says why), and the rest goes to CI again.
    Held,
    /// A green result for a commit that is, or is built on, a commit cfgupdate did not make
    /// (someone else rewrote the auto branch, even with a sealed message copied from one of
    /// cfgupdate's commits): the main branch did not move, and the auto branch was rebuilt
    /// from the changes' trailers; `status` names the commit.
    Untrusted,
}

impl Ignored {
    /// One sentence for the answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Ignored::NotStrict => {
                "strict mode is off: cfgupdate.toml on the main branch has no [strict] table"
            }
            Ignored::NotPending => {
                "the commit is not waiting on the auto branch (it was rebuilt since, or it is not an automatic change)"
            }
            Ignored::Accepted => "the main branch holds the commit already",
            Ignored::Evicted => {
                "the commit's change was evicted or dropped already (status says why)"
            }
            Ignored::Decided => {
                "another CI result about the same change was acted on first; this one changes nothing"
            }
            Ignored::Untrusted => {
                "a commit up to this one is not one cfgupdate made (someone else rewrote the auto branch): the main branch did not move, and the auto branch was rebuilt from the changes' trailers (status names the commit)"
            }
            Ignored::Held => {
                "a change up to the commit is held (a rollback or a person's edit) or its wave is frozen since it was queued: the main branch did not move, and the auto branch was rebuilt without it (status says why)"
            }
        }
    }
}

/// What became of a CI result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Recorded for `status`, nothing else: `pending` or `error`, a `success` while other
    /// checks of the commit are still pending (or, with `contexts`, have not passed yet), or
    /// a result of a check `contexts` does not name.
    Recorded,
    /// Green: the main branch now is `main` (the commit), and these changes were accepted.
    Accepted {
        /// The main branch's new tip.
        main: CommitId,
        /// The subjects of the automatic changes accepted, oldest first.
        changes: Vec<String>,
    },
    /// Red: the commit's change was evicted (reported once, here) and the auto branch was
    /// rebuilt without it; `dropped` are later changes that no longer applied.
    Evicted {
        /// The change evicted.
        eviction: Box<Eviction>,
        /// The auto branch's new tip.
        auto: CommitId,
        /// Changes the rebuild dropped.
        dropped: Vec<Eviction>,
    },
    /// Nothing changed, and why.
    Ignored(Ignored),
}

/// Why a CI result could not be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictError {
    /// The repository or the pipeline state failed.
    #[error(transparent)]
    Promotion(#[from] PromotionError),
    /// The result's check name is not one: over 255 characters, or with control characters.
    #[error(
        "the CI check name `{context}` is not one: at most 255 characters, no control characters; nothing was recorded"
    )]
    Context {
        /// The name as given, escaped and bounded.
        context: String,
    },
    /// The commit is not known to the repository at all.
    #[error(
        "commit {commit} is not in the config repository (not on the main branch nor on the auto branch)"
    )]
    UnknownCommit {
        /// The commit as given.
        commit: String,
    },
}

impl From<RepositoryError> for StrictError {
    fn from(error: RepositoryError) -> Self {
        StrictError::Promotion(PromotionError::Repository(error))
    }
}

impl Classify for StrictError {
    fn class(&self) -> ErrorClass {
        match self {
            StrictError::Promotion(error) => error.class(),
            StrictError::UnknownCommit { .. } | StrictError::Context { .. } => ErrorClass::Invalid,
        }
    }
}

/// The message of the state commit that records an acceptance.
const ACCEPT: &str = "Accept a commit CI passed";

/// What a green result comes to on a given state.
enum Verdict {
    /// Accepted: the main branch moves to the commit.
    Accept,
    /// Recorded while other checks of the commit wait.
    Waiting,
    /// A change up to the commit was evicted meanwhile.
    Decided,
    /// A commit up to it is not one cfgupdate made.
    Untrusted(CommitId),
    /// A change up to it is held or frozen now.
    Held,
}

impl<R: ConfigRepository> Strict<R> {
    /// After the fast-forward to `commit` (whose acceptance the state records) was rejected:
    /// another replica moved the main branch there, or a person moved it (the auto branch is
    /// then rebuilt and goes to CI again). `None` when the main branch holds `commit` now.
    fn fast_forward_rejected(
        &mut self,
        commit: &CommitId,
    ) -> Result<Option<CheckOutcome>, StrictError> {
        self.sync_noting()?;
        let now_main = self.main_tip().cloned().expect("synced");
        if self.inner().is_ancestor(commit, &now_main)? {
            Ok(None)
        } else {
            Ok(Some(CheckOutcome::Ignored(Ignored::NotPending)))
        }
    }

    /// Acts on a CI result for an auto branch commit (docs/strict.md).
    pub fn record_check(&mut self, report: &CheckReport) -> Result<CheckOutcome, StrictError> {
        // Kept in the state document, which every call fetches: a name, not a payload.
        if !crate::pipeline::is_check_name(&report.context) {
            return Err(StrictError::Context {
                context: shown(&report.context),
            });
        }
        // A green result for a change this process knows to wait is first decided without a
        // fetch (the pushes after it are compare-and-swaps). Only what a push confirmed is
        // taken from that pass (the acceptance, or the result recorded while other checks
        // wait): a refusal decided on what this process last saw (held, untrusted, decided
        // already) is decided again on freshly fetched branches, so that knowledge gone stale
        // never refuses a change nor rebuilds the branch.
        if report.state == CheckState::Success
            && self.knows_pending(&report.commit)
            && let Some(outcome) = self.decide(report, false)?
        {
            return Ok(outcome);
        }
        // Anything else fetches, noting what a rebuild drops on the way (`take_dropped`).
        self.sync_noting()?;
        Ok(self
            .decide(report, true)?
            .unwrap_or(CheckOutcome::Ignored(Ignored::NotPending)))
    }

    /// Decides a CI result on the branches as last fetched (`fetched`) or as this process last
    /// saw them; `None` (only when not `fetched`) asks for a decision on fetched branches.
    fn decide(
        &mut self,
        report: &CheckReport,
        fetched: bool,
    ) -> Result<Option<CheckOutcome>, StrictError> {
        let Some(_) = self.auto_branch() else {
            return Ok(Some(CheckOutcome::Ignored(Ignored::NotStrict)));
        };
        let main = self.main_tip().cloned().expect("a sync sets the main tip");
        let commit = &report.commit;
        let known = |repo: &Self| match repo.inner().is_ancestor(commit, commit) {
            Ok(_) => Ok(true),
            Err(error) if error.kind == crate::repository::RepositoryErrorKind::NotFound => {
                Ok(false)
            }
            Err(error) => Err(error),
        };
        if !known(self)? {
            return Err(StrictError::UnknownCommit {
                commit: shown(commit.as_str()),
            });
        }
        if self.inner().is_ancestor(commit, &main)? {
            return Ok(Some(CheckOutcome::Ignored(Ignored::Accepted)));
        }
        let Some(side) = self.side_tip_fetched().cloned() else {
            return Ok(Some(CheckOutcome::Ignored(Ignored::NotPending)));
        };
        let chain = pending(self.inner(), &side, &main)?;
        let Some(position) = chain.commits.iter().position(|c| &c.id == commit) else {
            let record = self.record(&main);
            return Ok(Some(CheckOutcome::Ignored(if record.is_evicted(commit) {
                Ignored::Evicted
            } else {
                Ignored::NotPending
            })));
        };
        let now = state::millis(self.clock().now());
        let check = CheckRecord {
            commit: commit.clone(),
            state: report.state,
            context: report.context.clone(),
            at: now,
        };
        // With `contexts`, only the checks it names decide; without, every check does.
        let required = self.required_contexts(&main);
        let decides = required.is_empty() || required.contains(&report.context);
        match report.state {
            CheckState::Pending | CheckState::Error => {
                self.update_record("Record a CI result", |r| {
                    r.add_check(check.clone(), &required)
                })?;
                Ok(Some(CheckOutcome::Recorded))
            }
            CheckState::Failure if !decides => {
                self.update_record("Record a CI result", |r| {
                    r.add_check(check.clone(), &required)
                })?;
                Ok(Some(CheckOutcome::Recorded))
            }
            CheckState::Success => {
                // Everything up to the commit: refused when any of it was evicted meanwhile.
                let up_to: Vec<CommitId> = chain.commits[..=position]
                    .iter()
                    .map(|c| c.id.clone())
                    .collect();
                let messages: Vec<&str> = chain.commits[..=position]
                    .iter()
                    .map(|c| c.message.as_str())
                    .collect();
                // The main branch's pipeline decides the holds and freeze windows: when it cannot
                // be read, nothing is accepted (an error, not a check skipped).
                let pipeline = Some(
                    Snapshot::at(self.inner(), &main)
                        .map_err(PromotionError::from)?
                        .pipeline()
                        .clone(),
                );
                let at = self.clock().now();
                let verify = self.options().key.is_some();
                // The decision, on a state: whether it changed the state, and what it is.
                let judge = |state: &mut PipelineState| -> (bool, Verdict) {
                    // A change up to it evicted meanwhile: this result is stale.
                    if up_to.iter().any(|c| state.strict.is_evicted(c)) {
                        return (false, Verdict::Decided);
                    }
                    // Only through commits cfgupdate made: a commit someone else pushed there
                    // may pair a sealed message with other files.
                    if let Some(forged) = verify
                        .then(|| up_to.iter().find(|c| !state.strict.is_built(c)).cloned())
                        .flatten()
                    {
                        return (false, Verdict::Untrusted(forged));
                    }
                    // Holds as the newest state has them: one placed since the fetch makes
                    // this push of the state rejected, and the check runs again on it.
                    let held = pipeline.as_ref().is_some_and(|pipeline| {
                        messages
                            .iter()
                            .any(|m| gate(m, pipeline, &state.holds, at) != Gate::Open)
                    });
                    if held {
                        return (false, Verdict::Held);
                    }
                    let r = &mut state.strict;
                    let mut changed = r.add_check(check.clone(), &required);
                    // Other checks of the commit still pending, failed or missing: recorded,
                    // and the last of them to pass accepts it.
                    if r.verdict(commit, &required).is_err() {
                        return (changed, Verdict::Waiting);
                    }
                    if r.accepted.as_ref() != Some(commit) {
                        r.accepted = Some(commit.clone());
                        changed = true;
                    }
                    // On the main branch from now on: no longer waiting, and their results
                    // no longer needed.
                    changed |= r.note_built(std::iter::empty(), &up_to);
                    changed |= r.forget_checks(&up_to);
                    (changed, Verdict::Accept)
                };
                let accepted = || CheckOutcome::Accepted {
                    main: commit.clone(),
                    changes: chain.commits[..=position]
                        .iter()
                        .map(|c| c.message.lines().next().unwrap_or_default().to_owned())
                        .collect(),
                };
                // Accepting: the decision and the fast-forward in one push, atomic where the
                // remote takes one (else the state first, and the branch only once it landed).
                let mut verdict = Verdict::Accept;
                let prepared = self.prepare_state(&main, &mut |state| {
                    let (changed, judged) = judge(state);
                    verdict = judged;
                    changed
                })?;
                let together = match (&verdict, prepared) {
                    (Verdict::Accept, Some(prepared)) => {
                        Some(self.inner_mut().fast_forward_with_state(
                            &main,
                            commit,
                            prepared.parent.as_ref(),
                            &prepared.content,
                            ACCEPT,
                        )?)
                    }
                    _ => None,
                };
                match together {
                    Some(PairOutcome::Pushed { state, .. }) => {
                        self.state_landed(&state);
                        self.fast_forwarded(commit);
                        return Ok(Some(accepted()));
                    }
                    Some(PairOutcome::StateOnly(state)) => {
                        self.state_landed(&state);
                        return Ok(self
                            .fast_forward_rejected(commit)?
                            .or_else(|| Some(accepted())));
                    }
                    // The main branch moved without the state (a remote that did not apply
                    // the push atomically): the decision is recorded after it.
                    Some(PairOutcome::BranchOnly(_)) => {
                        self.update_state(ACCEPT, |state| judge(state).0)?;
                        self.fast_forwarded(commit);
                        return Ok(Some(accepted()));
                    }
                    // The state or the main branch moved since this process looked: decided
                    // again on fetched branches.
                    Some(PairOutcome::Rejected) if !fetched => return Ok(None),
                    Some(PairOutcome::Rejected) | None => {}
                }
                // The decision alone (a refusal, a result recorded while other checks wait,
                // an acceptance already recorded, or a pair push rejected on fetched
                // branches), replayed on the newest state until it lands.
                self.update_state(ACCEPT, |state| {
                    let (changed, judged) = judge(state);
                    verdict = judged;
                    changed
                })?;
                // No push confirmed a refusal: taken on what this process last saw, it is
                // decided again on fetched branches.
                if !fetched && !matches!(verdict, Verdict::Accept | Verdict::Waiting) {
                    return Ok(None);
                }
                match verdict {
                    Verdict::Untrusted(forged) => {
                        let dropped = self.sync_with(true)?;
                        self.note_dropped(dropped);
                        let message = chain
                            .commits
                            .iter()
                            .find(|c| c.id == forged)
                            .map(|c| c.message.as_str())
                            .unwrap_or_default();
                        let reason = format!(
                            "commit {} on the auto branch is not one cfgupdate made (someone else rewrote the branch; its files may not be what its message says): the main branch was not moved to it, and the auto branch was rebuilt from the changes' trailers",
                            forged.short()
                        );
                        let incident =
                            Eviction::of(&forged, message, EvictionKind::Dropped, reason, now);
                        // After the rebuild: the change itself was replayed, only this commit left.
                        self.update_record(
                            "Report a commit on the auto branch cfgupdate did not make",
                            |r| r.add_eviction(incident.clone()),
                        )?;
                        Ok(Some(CheckOutcome::Ignored(Ignored::Untrusted)))
                    }
                    Verdict::Held => {
                        // The rebuild drops it, records why, and hands it out once (`take_dropped`).
                        self.sync_noting()?;
                        Ok(Some(CheckOutcome::Ignored(Ignored::Held)))
                    }
                    Verdict::Decided => Ok(Some(CheckOutcome::Ignored(Ignored::Decided))),
                    Verdict::Waiting => Ok(Some(CheckOutcome::Recorded)),
                    Verdict::Accept => match self.inner_mut().fast_forward(&main, commit)? {
                        // The auto branch did not move: nothing to fetch.
                        PushOutcome::Pushed(_) => {
                            self.fast_forwarded(commit);
                            Ok(Some(accepted()))
                        }
                        PushOutcome::Rejected => Ok(self
                            .fast_forward_rejected(commit)?
                            .or_else(|| Some(accepted()))),
                    },
                }
            }
            CheckState::Failure => {
                // The commit and the ones built on it: a green result for any of them that
                // was accepted first makes this one stale.
                let from: Vec<CommitId> = chain.commits[position..]
                    .iter()
                    .map(|c| c.id.clone())
                    .collect();
                let failed = &chain.commits[position];
                let reason = if report.context.is_empty() {
                    "the config repository's CI failed it".to_owned()
                } else {
                    format!(
                        "the config repository's CI failed it ({})",
                        shown(&report.context)
                    )
                };
                let eviction =
                    Eviction::of(commit, &failed.message, EvictionKind::Failed, reason, now);
                let mut outcome = None;
                self.update_record("Evict a change CI failed", |r| {
                    if r.accepted.as_ref().is_some_and(|a| from.contains(a)) {
                        outcome = Some(Ignored::Decided);
                        return false;
                    }
                    if r.is_evicted(commit) {
                        outcome = Some(Ignored::Evicted);
                        return false;
                    }
                    outcome = None;
                    // Evicted, and the commits built on it rebuilt: their results go.
                    r.forget_checks(&from);
                    r.add_eviction(eviction.clone())
                })?;
                if let Some(ignored) = outcome {
                    return Ok(Some(CheckOutcome::Ignored(ignored)));
                }
                let dropped = self.sync()?;
                let auto = self.side_tip_fetched().cloned().unwrap_or(main);
                Ok(Some(CheckOutcome::Evicted {
                    eviction: Box::new(eviction),
                    auto,
                    dropped,
                }))
            }
        }
    }
}
