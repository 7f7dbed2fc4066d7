//! The promotion operations: what `cfgupdate deployed`, `promote`, `approve` and `history` do,
//! and what the service's timer does when a soak gate opens.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use super::decide::{
    Candidate, Context, Reader, Transition, evaluate, evaluate_manual, soak_deadline,
};
use super::history::{AutomaticHistory, HistoryEntry};
use super::state::{self, CATCH_UP_EVERY, CatchUp, PipelineState, ReportRecord, millis};
use super::{Approver, DeployReport, Gate, PromotionError, TargetSelector};
use crate::class::{Classify, ErrorClass};
use crate::clock::Clock;
use crate::intent::WriteOptions;
use crate::intent::push_intent;
use crate::key::StateKey;
use crate::names::{CommitId, ServiceName, TargetName, WaveName};
use crate::pipeline::{Pipeline, Wave};
use crate::repository::{
    Change, CommitMessage, ConfigRepository, PairOutcome, PushOutcome, RepositoryError,
    RepositoryErrorKind,
};
use crate::slots::wave::read_wave;
use crate::snapshot::Snapshot;
use crate::trailers::{self, Action};
use crate::wave_write::{WaveWrite, WaveWriteError, write_into_wave};

/// What a deploy report led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentOutcome {
    /// Recorded; nothing was promoted, for the reason given.
    Recorded {
        /// Why nothing moved.
        reason: String,
    },
    /// Recorded; the next wave's promotion waits at a gate.
    Pending {
        /// The wave promoted into.
        wave: WaveName,
        /// The gate.
        gate: Gate,
    },
    /// Recorded, and the deployed images were promoted.
    Promoted {
        /// The promotion commit.
        commit: CommitId,
        /// The wave promoted into.
        wave: WaveName,
        /// When the wave promoted from became complete at the promoted images: the report
        /// that completed it, by the promotion rules of docs/promotion.md.
        completed_at: Option<SystemTime>,
    },
}

impl DeploymentOutcome {
    /// The commit this outcome landed on the branch and what it did, if it landed one.
    pub fn landed(&self) -> Option<(&CommitId, Action)> {
        match self {
            DeploymentOutcome::Promoted { commit, .. } => Some((commit, Action::Promote)),
            DeploymentOutcome::Recorded { .. } | DeploymentOutcome::Pending { .. } => None,
        }
    }
}

/// What `promote` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteOutcome {
    /// One commit.
    Promoted {
        /// The promotion commit.
        commit: CommitId,
        /// The wave promoted into.
        wave: WaveName,
        /// The services left out because a rollback or a person's edit holds them there.
        skipped: Vec<ServiceName>,
    },
    /// Nothing to write, for the reason given.
    Unchanged {
        /// Why.
        reason: String,
    },
}

impl PromoteOutcome {
    /// The commit this outcome landed on the branch and what it did, if it landed one.
    pub fn landed(&self) -> Option<(&CommitId, Action)> {
        match self {
            PromoteOutcome::Promoted { commit, .. } => Some((commit, Action::Promote)),
            PromoteOutcome::Unchanged { .. } => None,
        }
    }
}

/// What `approve` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalOutcome {
    /// The approval let the promotion through: one commit.
    Promoted {
        /// The promotion commit.
        commit: CommitId,
        /// The wave promoted into.
        wave: WaveName,
        /// When the wave promoted from became complete at the promoted images: the report
        /// that completed it, by the promotion rules of docs/promotion.md.
        completed_at: Option<SystemTime>,
    },
    /// The approval is recorded; the promotion still waits at another gate.
    Approved {
        /// The gate still closed.
        waiting: Gate,
    },
    /// Nothing waited for approval.
    Unchanged {
        /// Why.
        reason: String,
    },
}

impl ApprovalOutcome {
    /// The commit this outcome landed on the branch and what it did, if it landed one.
    pub fn landed(&self) -> Option<(&CommitId, Action)> {
        match self {
            ApprovalOutcome::Promoted { commit, .. } => Some((commit, Action::Approve)),
            ApprovalOutcome::Approved { .. } | ApprovalOutcome::Unchanged { .. } => None,
        }
    }
}

/// A promotion commit that landed on the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The promotion commit.
    pub commit: CommitId,
    /// The wave promoted into.
    pub wave: WaveName,
    /// What the commit's `Cfgupdate-Action` trailer says it did.
    pub action: Action,
    /// When the wave promoted from became complete at the promoted images (the report that
    /// completed it, by the promotion rules of docs/promotion.md); `None` for a promotion by hand of
    /// images its targets had not all deployed.
    pub completed_at: Option<SystemTime>,
}

/// What one pass over every step of the pipeline did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advance {
    /// The promotions made, in pipeline order.
    pub promoted: Vec<Promotion>,
    /// When the earliest waiting soak gate opens, if any.
    pub next_deadline: Option<SystemTime>,
    /// The promotions refused by the content of the wave promoted into (the effect or render
    /// check, its slots), in pipeline order: each is reported here and the other waves still
    /// advance.
    pub refused: Vec<PromotionError>,
    /// The waves whose soak ended and whose promotion now waits for approval, each with the
    /// revision waiting (what `approve --revision` takes), in pipeline order. Each wait is
    /// listed once: by the pass whose record of it in the pipeline state landed first, across
    /// processes. (A wait with no soak before it is said by the report that completed the
    /// wave: [`DeploymentOutcome::Pending`].)
    pub awaiting_approval: Vec<(WaveName, CommitId)>,
}

/// Records a post-deploy hook's report, then promotes out of the target's wave if the report
/// completed it and the next wave's gates allow.
///
/// A report of a revision the cache already holds on the branch (the service published it,
/// say) starts from the cache, without a fetch: the state push and the promotion push are
/// both compare-and-swap, so a cache that fell behind is caught by a rejection, refetched and
/// replayed, as a publish is. Anything the cache cannot answer (a revision it does not hold,
/// a target its pipeline lacks, a configuration it cannot read) is asked again after a fetch,
/// so a report is refused (unknown revision, unknown target) only from a fresh fetch.
pub fn record_deployment(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    report: &DeployReport,
    options: &WriteOptions,
) -> Result<DeploymentOutcome, PromotionError> {
    let prepare = |repo: &dyn ConfigRepository, tip: &CommitId| {
        let pipeline = Snapshot::at(repo, tip)?.pipeline().clone();
        let target = resolve_target(&pipeline, &report.target)?;
        check_on_branch(repo, &report.revision, tip)?;
        Ok::<_, PromotionError>((pipeline, target))
    };
    let cached = match repo.tip() {
        Ok(tip) => prepare(repo, &tip).ok().map(|prepared| (tip, prepared)),
        Err(_) => None,
    };
    let (mut tip, mut fetched, (mut pipeline, mut target)) = match cached {
        Some((tip, prepared)) => (tip, false, prepared),
        None => {
            let tip = repo.refresh()?;
            let prepared = prepare(repo, &tip)?;
            (tip, true, prepared)
        }
    };
    let record = ReportRecord {
        revision: report.revision.clone(),
        status: report.status,
        at: millis(clock.now()),
    };
    let message = |target: &TargetName| {
        format!(
            "Record {} deployment of {} on target {target}",
            report.status.as_str(),
            report.revision.short()
        )
    };
    let record_report = |repo: &mut dyn ConfigRepository, tip: &CommitId, target: &TargetName| {
        state::update(
            repo,
            clock,
            &options.retry,
            options.key.as_ref(),
            tip,
            &message(target),
            CatchUp::Along(tip),
            |state| state.add_report(target, record.clone()),
        )
    };
    // A report that promotes pushes the state and the promotion together; one that does not
    // records the report alone and then steps as any other promotion does.
    let mut rejected = 0;
    loop {
        let attempt = report_and_promote(
            repo,
            clock,
            options,
            &pipeline,
            &target,
            &tip,
            &message(&target),
            &record,
        );
        let error = match attempt {
            Ok(Paired::Done { promotion, .. }) => {
                return Ok(DeploymentOutcome::Promoted {
                    commit: promotion.commit,
                    wave: promotion.wave,
                    completed_at: promotion.completed_at,
                });
            }
            Ok(Paired::NoPromotion) => break,
            Ok(Paired::Rejected) => {
                rejected += 1;
                if rejected >= options.retry.attempts {
                    return Err(PromotionError::Contended { attempts: rejected });
                }
                clock.sleep(options.retry.delay(rejected, clock.now()));
                tip = repo.refresh()?;
                fetched = true;
                (pipeline, target) = prepare(repo, &tip)?;
                continue;
            }
            Err(error) => error,
        };
        // A state the cache holds may be one an admin has reset since, content a person has
        // fixed since: a refusal to act on it (or anything but the remote's own answer) comes
        // only from a fresh fetch.
        if fetched
            || matches!(
                error,
                PromotionError::Repository(_) | PromotionError::Contended { .. }
            )
        {
            return Err(error);
        }
        tip = repo.refresh()?;
        fetched = true;
        (pipeline, target) = prepare(repo, &tip)?;
    }
    match record_report(repo, &tip, &target) {
        Ok(_) => {}
        // A state the cache holds may be one an admin has reset since: a refusal to act on
        // it (or anything but the remote's own answer) comes only from a fresh fetch.
        Err(error)
            if !fetched
                && !matches!(
                    error,
                    PromotionError::Repository(_) | PromotionError::Contended { .. }
                ) =>
        {
            tip = repo.refresh()?;
            fetched = true;
            (pipeline, target) = prepare(repo, &tip)?;
            record_report(repo, &tip, &target)?;
        }
        Err(error) => return Err(error),
    }
    let Some(source) = pipeline.wave_of_target(&target) else {
        return Err(PromotionError::UnknownTarget {
            target: target.to_string(),
            known: pipeline.known_targets(target.as_str()),
        });
    };
    // Without a fetch, the report may name a revision a person has since removed from the
    // branch (a force-push the cache has not seen): the promotion is planned only on tips that
    // still hold it, and once a fetch shows it gone the report is refused (422, from a fresh
    // fetch) before anything is promoted.
    let (outcome, transition) = step(
        repo,
        clock,
        options,
        &source.name,
        Step::Automatic,
        fetched,
        Some(&report.revision),
    )?;
    Ok(deployment_outcome((outcome, transition)))
}

/// What one attempt at reports that may promote did.
enum Paired {
    /// Recorded and promoted out of `source` into `wave` by `commit` (or recorded, the
    /// promotion landing without it and the reports recorded after).
    Done {
        /// The wave promoted out of.
        source: WaveName,
        /// The promotion commit, and what it did.
        promotion: Promotion,
    },
    /// The reports lead to no promotion on this tip: nothing was pushed.
    NoPromotion,
    /// The remote moved on (the branch, the state, or both): replay on a fresh fetch.
    Rejected,
}

/// One attempt at recording `record` for `target` and promoting out of its wave on `tip`, in
/// one push ([`reports_and_promote`] with one report).
#[allow(clippy::too_many_arguments)]
fn report_and_promote(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    pipeline: &Pipeline,
    target: &TargetName,
    tip: &CommitId,
    message: &str,
    record: &ReportRecord,
) -> Result<Paired, PromotionError> {
    let Some(source) = pipeline.wave_of_target(target) else {
        return Err(PromotionError::UnknownTarget {
            target: target.to_string(),
            known: pipeline.known_targets(target.as_str()),
        });
    };
    reports_and_promote(
        repo,
        clock,
        options,
        &[(target.clone(), record.clone())],
        std::slice::from_ref(&source.name),
        Some(&record.revision),
        tip,
        message,
    )
}

/// One attempt at recording `records` and promoting out of the first of `sources` (in
/// pipeline order) that promotes on `tip`, in one push: the new state document is made in
/// memory, the promotion decided with it, and both refs pushed together, each a
/// compare-and-swap on what it was built on. Pushes nothing when no promotion follows (or
/// when deciding one fails: the step after the reports are recorded meets that again).
/// `on_branch`: a revision every tip planned on must hold.
#[allow(clippy::too_many_arguments)]
fn reports_and_promote(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    records: &[(TargetName, ReportRecord)],
    sources: &[WaveName],
    on_branch: Option<&CommitId>,
    tip: &CommitId,
    message: &str,
) -> Result<Paired, PromotionError> {
    let key = options.key.as_ref();
    let add_all = |state: &mut PipelineState| {
        let mut changed = false;
        for (target, record) in records {
            changed |= state.add_report(target, record.clone());
        }
        changed
    };
    let (state, prepared) =
        state::prepare(repo, clock, key, tip, CatchUp::Along(tip), &mut |state| {
            add_all(state)
        })?;
    let mut planned = None;
    for source in sources {
        match plan_step(
            repo,
            clock,
            options,
            source,
            &Step::Automatic,
            on_branch,
            tip,
            Some(&state),
        ) {
            Ok((Some((change, step)), _)) => {
                planned = Some((source.clone(), change, step));
                break;
            }
            Ok((None, _)) => {}
            // A refusal to promote (content that does not render, say) leaves the reports to
            // be recorded alone first, as before: the step after it meets the refusal again.
            Err(_) => break,
        }
    }
    let Some((source, mut change, planned)) = planned else {
        return Ok(Paired::NoPromotion);
    };
    crate::intent::seal(repo, key, tip, &mut change);
    let promoted = |commit| Paired::Done {
        source: source.clone(),
        promotion: Promotion {
            commit,
            wave: planned.wave.clone(),
            action: planned.action,
            completed_at: planned.completed_at,
        },
    };
    let Some(prepared) = prepared else {
        // The reports are in the state already (a replay after the state alone landed).
        return Ok(match repo.commit_and_push(tip, &change)? {
            PushOutcome::Pushed(commit) => promoted(commit),
            PushOutcome::Rejected => Paired::Rejected,
        });
    };
    match repo.push_with_state(
        tip,
        &change,
        prepared.parent.as_ref(),
        &prepared.content,
        message,
    )? {
        PairOutcome::Pushed { commit, state } => {
            state::landed(repo, key, &state);
            Ok(promoted(commit))
        }
        PairOutcome::StateOnly(state) => {
            // As with two pushes: the reports are recorded, the promotion is replayed.
            state::landed(repo, key, &state);
            Ok(Paired::Rejected)
        }
        PairOutcome::BranchOnly(commit) => {
            // The promotion landed, the state moved on meanwhile: record the reports on the
            // newest state, replayed as every state update is.
            repo.refresh()?;
            state::update(
                repo,
                clock,
                &options.retry,
                key,
                &commit,
                message,
                CatchUp::Along(&commit),
                add_all,
            )?;
            Ok(promoted(commit))
        }
        PairOutcome::Rejected => Ok(Paired::Rejected),
    }
}

/// Records several deploy reports (those that queued up while a push was in flight) in one
/// state update, then decides the promotion out of each wave they belong to once. Answers
/// each report in order, as [`record_deployment`] would have, with one difference: every report
/// of a wave the batch promoted out of is answered `Promoted` with that one commit, since the
/// promotion followed the recording of all of them.
///
/// A report that names an unknown target or a revision off the branch gets its own error and
/// is left out; the others are still recorded. Reports are recorded together or not at all:
/// when the state update fails, every report that was to be in it gets that error, and none
/// was acknowledged. When the promotion step of a wave fails, the reports of that wave get the
/// error (they are recorded; the next report or the service's timer tries again).
pub fn record_deployments(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    reports: &[DeployReport],
    options: &WriteOptions,
) -> Vec<Result<DeploymentOutcome, PromotionError>> {
    match reports {
        [] => return Vec::new(),
        [only] => return vec![record_deployment(repo, clock, only, options)],
        _ => {}
    }
    let read = |repo: &mut dyn ConfigRepository| -> Result<_, PromotionError> {
        let tip = repo.refresh()?;
        Ok((Snapshot::at(repo, &tip)?.pipeline().clone(), tip))
    };
    let (pipeline, tip) = match read(repo) {
        Ok(read) => read,
        Err(error) => return reports.iter().map(|_| Err(error.clone())).collect(),
    };
    let at = millis(clock.now());
    // Each report's target and the wave it belongs to, or why it is refused.
    let resolved: Vec<Result<(TargetName, WaveName), PromotionError>> = reports
        .iter()
        .map(|report| {
            let target = resolve_target(&pipeline, &report.target)?;
            check_on_branch(repo, &report.revision, &tip)?;
            let Some(source) = pipeline.wave_of_target(&target) else {
                return Err(PromotionError::UnknownTarget {
                    target: target.to_string(),
                    known: pipeline.known_targets(target.as_str()),
                });
            };
            Ok((target, source.name.clone()))
        })
        .collect();
    let records: Vec<(TargetName, ReportRecord)> = reports
        .iter()
        .zip(&resolved)
        .filter_map(|(report, resolved)| {
            let (target, _) = resolved.as_ref().ok()?;
            let record = ReportRecord {
                revision: report.revision.clone(),
                status: report.status,
                at,
            };
            Some((target.clone(), record))
        })
        .collect();
    // The waves the recorded reports belong to, in pipeline order.
    let sources: Vec<WaveName> = pipeline
        .waves
        .iter()
        .filter(|wave| {
            resolved
                .iter()
                .any(|r| r.as_ref().is_ok_and(|(_, source)| source == &wave.name))
        })
        .map(|wave| wave.name.clone())
        .collect();
    // The first of them the reports promote out of is promoted in the push that records them
    // (one push of both refs, as for a single report); without a promotion the reports are
    // recorded alone.
    let mut paired = None;
    if !records.is_empty() {
        let message = if records.len() == 1 {
            let (target, record) = &records[0];
            format!(
                "Record {} deployment of {} on target {target}",
                record.status.as_str(),
                record.revision.short()
            )
        } else {
            format!("Record {} deployment reports", records.len())
        };
        let fail_all = |resolved: Vec<Result<(TargetName, WaveName), PromotionError>>,
                        error: PromotionError| {
            resolved
                .into_iter()
                .map(|resolved| resolved.and_then(|_| Err(error.clone())))
                .collect()
        };
        let mut tip = tip.clone();
        let mut rejected = 0;
        loop {
            let attempt = reports_and_promote(
                repo, clock, options, &records, &sources, None, &tip, &message,
            );
            match attempt {
                Ok(Paired::Done { source, promotion }) => {
                    paired = Some((source, promotion));
                    break;
                }
                Ok(Paired::NoPromotion) => break,
                Ok(Paired::Rejected) => {
                    rejected += 1;
                    if rejected >= options.retry.attempts {
                        return fail_all(
                            resolved,
                            PromotionError::Contended { attempts: rejected },
                        );
                    }
                    clock.sleep(options.retry.delay(rejected, clock.now()));
                    match repo.refresh() {
                        Ok(fresh) => tip = fresh,
                        Err(error) => return fail_all(resolved, error.into()),
                    }
                }
                Err(error) => return fail_all(resolved, error),
            }
        }
        if paired.is_none() {
            let recorded = state::update(
                repo,
                clock,
                &options.retry,
                options.key.as_ref(),
                &tip,
                &message,
                CatchUp::Along(&tip),
                |state| {
                    let mut changed = false;
                    for (target, record) in &records {
                        changed |= state.add_report(target, record.clone());
                    }
                    changed
                },
            );
            if let Err(error) = recorded {
                return fail_all(resolved, error);
            }
        }
    }
    // One step out of each wave the recorded reports belong to, in pipeline order.
    let mut steps: BTreeMap<WaveName, Result<StepResult, PromotionError>> = BTreeMap::new();
    for source in &sources {
        let result = match &paired {
            Some((promoted, promotion)) if promoted == source => {
                Ok((Some(promotion.clone()), None))
            }
            _ => automatic_step(repo, clock, options, source),
        };
        steps.insert(source.clone(), result);
    }
    resolved
        .into_iter()
        .map(|resolved| {
            let (_, source) = resolved?;
            let (outcome, transition) = match steps.get(&source) {
                Some(result) => result.clone()?,
                None => {
                    return Err(PromotionError::UnknownWave {
                        wave: source.to_string(),
                        known: pipeline.known_waves(source.as_str()),
                    });
                }
            };
            Ok(deployment_outcome((outcome, transition)))
        })
        .collect()
}

/// Promotes the images `from` held at `revision` into the next wave (gates still apply).
pub fn promote(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    from: &WaveName,
    revision: &CommitId,
    options: &WriteOptions,
) -> Result<PromoteOutcome, PromotionError> {
    promote_with(repo, clock, from, revision, options, false)
}

/// [`promote`], written even while the next wave is frozen: an admin's override. The other
/// gates still apply; a commit made inside a freeze window carries `Cfgupdate-Override:
/// freeze`.
pub fn promote_overriding_freeze(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    from: &WaveName,
    revision: &CommitId,
    options: &WriteOptions,
) -> Result<PromoteOutcome, PromotionError> {
    promote_with(repo, clock, from, revision, options, true)
}

fn promote_with(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    from: &WaveName,
    revision: &CommitId,
    options: &WriteOptions,
    override_freeze: bool,
) -> Result<PromoteOutcome, PromotionError> {
    let tip = repo.refresh()?;
    let pipeline = Snapshot::at(repo, &tip)?.pipeline().clone();
    if pipeline.wave(from).is_none() {
        return Err(PromotionError::UnknownWave {
            wave: from.to_string(),
            known: pipeline.known_waves(from.as_str()),
        });
    }
    check_on_branch(repo, revision, &tip)?;
    let (outcome, transition) = step(
        repo,
        clock,
        options,
        from,
        Step::Manual {
            revision: revision.clone(),
            override_freeze,
        },
        true,
        None,
    )?;
    match (outcome, transition) {
        (Some(promotion), transition) => Ok(PromoteOutcome::Promoted {
            commit: promotion.commit,
            wave: promotion.wave,
            skipped: match transition {
                Some(Transition::Ready(candidate)) => candidate
                    .held
                    .into_iter()
                    .map(|(service, _)| service)
                    .collect(),
                _ => Vec::new(),
            },
        }),
        (None, Some(Transition::Waiting(candidate, gate))) => Err(PromotionError::Gated {
            wave: candidate.into,
            gate,
        }),
        (None, transition) => Ok(PromoteOutcome::Unchanged {
            reason: reason_of(transition.as_ref()),
        }),
    }
}

/// Approves what waits to enter `wave`: records the approval of exactly that candidate by
/// `by`, and promotes it if no other gate still waits (the promotion commit names the approver
/// in `Cfgupdate-Approved-By`). [`approve_candidate`](super::approve_candidate) with no
/// revision: whatever candidate waits.
pub fn approve(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    wave: &WaveName,
    by: &Approver,
    options: &WriteOptions,
) -> Result<ApprovalOutcome, PromotionError> {
    super::approval::approve_candidate(repo, clock, wave, None, by, options)
}

/// Promotes wherever a wave is complete and its next wave's gates are open (a soak gate that
/// opened since the last report, say); returns what it did and when to look again.
pub fn advance(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
) -> Result<Advance, PromotionError> {
    let tip = repo.refresh()?;
    let pipeline = Snapshot::at(repo, &tip)?.pipeline().clone();
    let mut advance = Advance::default();
    let mut waits: Vec<(WaveName, CommitId)> = Vec::new();
    for wave in &pipeline.waves {
        if pipeline.next_wave(&wave.name).is_none() {
            continue;
        }
        let (outcome, transition) = match automatic_step(repo, clock, options, &wave.name) {
            Ok(step) => step,
            // One wave's refusal (a slot without effect, a target that does not render) must
            // not hold up promotions out of the others.
            Err(error @ (PromotionError::Render { .. } | PromotionError::Slots { .. }))
                if error.class() == ErrorClass::Invalid =>
            {
                advance.refused.push(error);
                continue;
            }
            Err(error) => return Err(error),
        };
        if let Some(promotion) = outcome {
            advance.promoted.push(promotion);
        }
        if let Some(deadline) = transition.as_ref().and_then(soak_deadline) {
            advance.next_deadline =
                Some(advance.next_deadline.map_or(deadline, |d| d.min(deadline)));
        }
        // A soak that ended leaves the promotion waiting for approval: nobody's report said so.
        if let Some(Transition::Waiting(candidate, Gate::Approval)) = &transition
            && pipeline
                .wave(&candidate.into)
                .is_some_and(|into| into.soak.is_some())
        {
            waits.push((candidate.into.clone(), candidate.source_revision.clone()));
        }
    }
    // Record the waits for approval not recorded yet (the processes that landed the record
    // list them), and the publishes since the state last did, once there are enough of them,
    // so a publish reads only a few commits however long nobody else wrote the state.
    let tip = repo.tip()?;
    let message = if waits.is_empty() {
        "Record the publishes"
    } else {
        "Record a promotion waiting for approval"
    };
    let mut noted = Vec::new();
    state::update(
        repo,
        clock,
        &options.retry,
        options.key.as_ref(),
        &tip,
        message,
        CatchUp::Push(&tip, CATCH_UP_EVERY),
        |state| {
            noted.clear();
            for (wave, revision) in &waits {
                if state.awaiting.get(wave) != Some(revision) {
                    state.awaiting.insert(wave.clone(), revision.clone());
                    noted.push((wave.clone(), revision.clone()));
                }
            }
            !noted.is_empty()
        },
    )?;
    advance.awaiting_approval = noted;
    Ok(advance)
}

/// The automatic commits of the branch, newest first. With a state key, each says whether
/// cfgupdate sealed it (only sealed ones decide anything).
pub fn history(
    repo: &mut dyn ConfigRepository,
    limit: usize,
    key: Option<&StateKey>,
) -> Result<Vec<HistoryEntry>, PromotionError> {
    let tip = repo.refresh()?;
    Ok(AutomaticHistory::read(repo, &tip, key)?.entries(limit))
}

/// The promotion a step made, if any, and the last transition it saw.
pub(super) type StepResult = (Option<Promotion>, Option<Transition>);

/// What a planned promotion commit will be, once it lands.
#[derive(Debug, Clone)]
struct Planned {
    wave: WaveName,
    action: Action,
    completed_at: Option<SystemTime>,
}

/// How a step was asked for.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// By a report or a timer: promote what the targets deployed.
    Automatic,
    /// By `approve`: the same, recorded as an approval's promotion.
    Approval,
    /// By `promote`: the images of the source wave at this revision; with
    /// `override_freeze`, even into a frozen wave (an admin's override).
    Manual {
        revision: CommitId,
        override_freeze: bool,
    },
}

/// One step out of `source`, with the intent replayed on the new tip after every rejection.
/// Returns the promotion made, if any, and the last transition seen. `fetched`: the caller
/// fetched just before (otherwise "nothing to promote" is believed only after a fetch).
/// `on_branch`: a revision every tip planned on must hold (an unknown revision otherwise).
#[allow(clippy::too_many_arguments)]
pub(super) fn step(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    source: &WaveName,
    how: Step,
    fetched: bool,
    on_branch: Option<&CommitId>,
) -> Result<StepResult, PromotionError> {
    let mut last = None;
    let key = options.key.as_ref();
    let pushed = push_intent(
        repo,
        clock,
        &options.retry,
        key,
        fetched,
        |attempts| PromotionError::Contended { attempts },
        |repo, tip| {
            let (change, transition) =
                plan_step(repo, clock, options, source, &how, on_branch, tip, None)?;
            last = Some(transition);
            Ok(change)
        },
    )?;
    let promotion = pushed.map(|(commit, planned)| Promotion {
        commit,
        wave: planned.wave,
        action: planned.action,
        completed_at: planned.completed_at,
    });
    Ok((promotion, last))
}

/// What one step out of `source` would write on `tip` (the promotion commit, unsealed, and
/// what it will be once it lands), and the transition it saw. `state`: the state to decide with (one a
/// report is about to write); `None` reads it as last fetched.
#[allow(clippy::too_many_arguments)]
fn plan_step(
    repo: &dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    source: &WaveName,
    how: &Step,
    on_branch: Option<&CommitId>,
    tip: &CommitId,
    state: Option<&PipelineState>,
) -> Result<(Option<(Change, Planned)>, Transition), PromotionError> {
    let key = options.key.as_ref();
    if let Some(revision) = on_branch {
        check_on_branch(repo, revision, tip)?;
    }
    let snapshot = Snapshot::at(repo, tip)?;
    let pipeline = snapshot.pipeline();
    let Some(wave) = pipeline.wave(source) else {
        return Err(PromotionError::UnknownWave {
            wave: source.to_string(),
            known: pipeline.known_waves(source.as_str()),
        });
    };
    let loaded;
    let state = match state {
        Some(state) => state,
        None => {
            loaded = state::load(repo, key, tip)?;
            &loaded
        }
    };
    let history = AutomaticHistory::read(repo, tip, key)?;
    let mut reader = Reader::new(repo);
    let mut ctx = Context {
        pipeline,
        state,
        history: &history,
        reader: &mut reader,
        now: clock.now(),
        override_freeze: matches!(
            how,
            Step::Manual {
                override_freeze: true,
                ..
            }
        ),
    };
    let transition = match how {
        Step::Manual { revision, .. } => evaluate_manual(&mut ctx, wave, revision)?,
        Step::Automatic | Step::Approval => evaluate(&mut ctx, wave)?,
    };
    let change = match &transition {
        Transition::Ready(candidate) => {
            let action = match how {
                Step::Approval => Action::Approve,
                Step::Automatic | Step::Manual { .. } => Action::Promote,
            };
            // Written into a wave that is frozen now: only by an admin's override, and said so.
            let overridden = pipeline
                .wave(&candidate.into)
                .is_some_and(|into| into.frozen_at(ctx.now).is_some());
            promotion_change(repo, &snapshot, candidate, action, &history, options)?.map(
                |mut change| {
                    if overridden {
                        change.message.trailers.push((
                            trailers::OVERRIDE.to_owned(),
                            trailers::OVERRIDE_FREEZE.to_owned(),
                        ));
                    }
                    let planned = Planned {
                        wave: candidate.into.clone(),
                        action,
                        completed_at: candidate.completed_at,
                    };
                    (change, planned)
                },
            )
        }
        _ => None,
    };
    Ok((change, transition))
}

/// The commit that writes a candidate into its wave, or `None` when the wave already holds it.
fn promotion_change(
    repo: &dyn ConfigRepository,
    snapshot: &Snapshot<'_>,
    candidate: &Candidate,
    action: Action,
    history: &AutomaticHistory,
    options: &WriteOptions,
) -> Result<Option<Change>, PromotionError> {
    let pipeline = snapshot.pipeline();
    let Some(into) = pipeline.wave(&candidate.into) else {
        return Err(PromotionError::UnknownWave {
            wave: candidate.into.to_string(),
            known: pipeline.known_waves(candidate.into.as_str()),
        });
    };
    let files = snapshot.wave_files(into)?;
    let write = write_into_wave(
        repo,
        snapshot.revision(),
        into,
        &files,
        read_wave(&into.images, &files).unwrap_or_default(),
        &candidate.images,
        &options.render,
    )
    .map_err(|error| write_error(error, &into.name))?;
    let Some(mut write) = write else {
        return Ok(None);
    };
    // Through an approval gate, the promotion names who approved this candidate.
    let approver = into
        .approval
        .then_some(candidate.approved_by.as_ref())
        .flatten();
    write.change.message = promotion_message(
        candidate,
        into,
        action,
        &write,
        &history.app_commits(),
        approver,
    );
    let change = write.change;
    Ok(Some(change))
}

fn promotion_message(
    candidate: &Candidate,
    into: &Wave,
    action: Action,
    write: &WaveWrite,
    apps: &BTreeMap<crate::reference::ImageRef, CommitId>,
    approver: Option<&Approver>,
) -> CommitMessage {
    let subject = format!(
        "Promote {} from {} to {} (deployed at {})",
        write.services_phrase(&candidate.images),
        candidate.source_wave,
        into.name,
        candidate.source_revision.short()
    );
    let mut notes = Vec::new();
    if !into.hold.is_empty() {
        let held: Vec<&str> = into.hold.iter().map(|s| s.as_str()).collect();
        notes.push(format!("Held in {}: {}.", into.name, held.join(", ")));
    }
    if !candidate.held.is_empty() {
        notes.push(format!(
            "Left as they are in {} until `cfgupdate release`: {}.",
            into.name,
            super::holds::held_phrase(&candidate.held)
        ));
    }
    let body = write.body(&candidate.images, &notes);
    let mut trailers = vec![
        (trailers::ACTION.to_owned(), action.as_str().to_owned()),
        (trailers::WAVE.to_owned(), into.name.to_string()),
    ];
    let app_commits: BTreeSet<&CommitId> = candidate
        .images
        .values()
        .filter_map(|image| apps.get(image))
        .collect();
    for app in app_commits {
        trailers.push((trailers::APP_COMMIT.to_owned(), app.to_string()));
    }
    trailers.push((
        trailers::SOURCE_WAVE.to_owned(),
        candidate.source_wave.to_string(),
    ));
    trailers.push((
        trailers::SOURCE_REVISION.to_owned(),
        candidate.source_revision.to_string(),
    ));
    if let Some(approver) = approver {
        trailers.push((trailers::APPROVED_BY.to_owned(), approver.to_string()));
    }
    for (service, image) in &candidate.images {
        trailers.push((
            trailers::IMAGE.to_owned(),
            trailers::image_value(service, image, apps.get(image)),
        ));
    }
    CommitMessage {
        subject,
        body,
        trailers,
    }
}

/// The automatic step out of `source` (after a fetch), as reports and `advance` take it.
fn automatic_step(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    options: &WriteOptions,
    source: &WaveName,
) -> Result<StepResult, PromotionError> {
    step(repo, clock, options, source, Step::Automatic, true, None)
}

/// A wave write's refusal, as the promotion into `wave` reports it.
fn write_error(error: WaveWriteError, wave: &WaveName) -> PromotionError {
    match error {
        WaveWriteError::Slots(source) => PromotionError::Slots {
            wave: wave.clone(),
            source: Box::new(source),
        },
        WaveWriteError::Render(source) => PromotionError::Render {
            wave: wave.clone(),
            source: Box::new(source),
        },
    }
}

/// What a deployment report led to, from the step it triggered.
fn deployment_outcome((outcome, transition): StepResult) -> DeploymentOutcome {
    match (outcome, transition) {
        (Some(promotion), _) => DeploymentOutcome::Promoted {
            commit: promotion.commit,
            wave: promotion.wave,
            completed_at: promotion.completed_at,
        },
        (None, Some(Transition::Waiting(candidate, gate))) => DeploymentOutcome::Pending {
            wave: candidate.into,
            gate,
        },
        (None, transition) => DeploymentOutcome::Recorded {
            reason: reason_of(transition.as_ref()),
        },
    }
}

pub(super) fn reason_of(transition: Option<&Transition>) -> String {
    match transition {
        None => "nothing to promote".to_owned(),
        Some(Transition::Idle(reason) | Transition::Blocked(reason)) => reason.clone(),
        Some(Transition::Failed { target, revision }) => format!(
            "target `{target}` reported a failed deployment of revision {}",
            revision.short()
        ),
        Some(Transition::Waiting(candidate, gate)) => gate.describe(&candidate.into),
        Some(Transition::Ready(candidate)) => {
            format!(
                "wave `{}` already holds the images to promote",
                candidate.into
            )
        }
    }
}

fn resolve_target(
    pipeline: &Pipeline,
    selector: &TargetSelector,
) -> Result<TargetName, PromotionError> {
    match selector {
        TargetSelector::Name(name) => match pipeline.target(name) {
            Some(target) => Ok(target.name.clone()),
            None => Err(PromotionError::UnknownTarget {
                target: name.to_string(),
                known: pipeline.known_targets(name.as_str()),
            }),
        },
        TargetSelector::App(app) => match pipeline.target_by_app(app) {
            Some(target) => Ok(target.name.clone()),
            None => Err(PromotionError::UnknownApp {
                app: app.clone(),
                known: pipeline.known_apps(app),
            }),
        },
    }
}

/// A reported or requested revision must be a commit of the branch.
pub(crate) fn check_on_branch(
    repo: &dyn ConfigRepository,
    revision: &CommitId,
    tip: &CommitId,
) -> Result<(), PromotionError> {
    match repo.is_ancestor(revision, tip) {
        Ok(true) => Ok(()),
        Ok(false) => Err(PromotionError::UnknownRevision {
            revision: revision.clone(),
        }),
        Err(RepositoryError {
            kind: RepositoryErrorKind::NotFound,
            ..
        }) => Err(PromotionError::UnknownRevision {
            revision: revision.clone(),
        }),
        Err(error) => Err(error.into()),
    }
}
