//! The promotion decision for one step of the pipeline: may the images that the source wave's
//! targets deployed move into the next wave, and if not, why not.
//!
//! Everything here reads; nothing writes. The rules:
//! - A target's *effective* report is its report for the newest revision it reported (a late
//!   report for an older revision does not override a newer one; for the same revision the
//!   later report wins, so a failure blocks until a later success).
//! - The wave is complete when every target's effective report is a success and the source
//!   wave's image set is the same at every reported revision: that set, read from those
//!   revisions (never from the tip), is what is promoted.
//! - Never backwards: every reported revision must descend from the source revision of the
//!   last promotion into the next wave; an image set that was already promoted is not promoted
//!   again (a person may have changed the next wave since, and that stays).
//! - Gates of the next wave: `hold` (held services are left out), `soak` (time since the
//!   report that completed the wave), `approval` (these exact images approved).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::approval::approval_for;
use super::history::{AutomaticHistory, LastPromotion};
use super::holds::{HeldBack, Hold};
use super::state::{PipelineState, ReportRecord};
use super::{Approver, DeployStatus, Gate, PromotionError};
use crate::names::{CommitId, ServiceName, TargetName, WaveName};
use crate::pipeline::{Pipeline, Wave};
use crate::repository::ConfigRepository;
use crate::slots::ImageSet;
use crate::slots::wave::read_wave;
use crate::snapshot::{Snapshot, SnapshotError};

/// What may move from one wave into the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The wave promoted from.
    pub source_wave: WaveName,
    /// The wave promoted into.
    pub into: WaveName,
    /// The newest revision the source wave's targets reported (or the one asked for).
    pub source_revision: CommitId,
    /// The images to write: the source wave's set at that revision, less held services.
    pub images: ImageSet,
    /// The services left out because a rollback or a person's edit holds them in `into`.
    pub held: Vec<(ServiceName, Hold)>,
    /// When the wave became complete at these images (the report that completed it), if it
    /// did.
    pub completed_at: Option<SystemTime>,
    /// Who approved exactly this candidate, when the wave promoted into has an approval gate
    /// and an approval that counts (docs/promotion.md, "Approvals").
    pub approved_by: Option<Approver>,
}

/// The state of one step of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Nothing to promote; says why.
    Idle(String),
    /// Something blocks promotion; says what.
    Blocked(String),
    /// A target's effective report is a failed deployment: promotion waits for a later
    /// success.
    Failed {
        /// The target.
        target: TargetName,
        /// The revision whose deployment failed.
        revision: CommitId,
    },
    /// The candidate waits at a gate.
    Waiting(Candidate, Gate),
    /// The candidate may be promoted now.
    Ready(Candidate),
}

/// Reads what decisions need, once per evaluation: image sets at revisions are cached.
pub(crate) struct Reader<'r> {
    repo: &'r dyn ConfigRepository,
    sets: BTreeMap<(CommitId, WaveName), Option<ImageSet>>,
}

impl<'r> Reader<'r> {
    pub(crate) fn new(repo: &'r dyn ConfigRepository) -> Self {
        Self {
            repo,
            sets: BTreeMap::new(),
        }
    }

    /// The image set of `wave` at `revision`, read with the pipeline file of that revision;
    /// `None` when the wave did not exist there.
    pub(crate) fn wave_set(
        &mut self,
        wave: &WaveName,
        revision: &CommitId,
    ) -> Result<Option<ImageSet>, PromotionError> {
        let key = (revision.clone(), wave.clone());
        if let Some(set) = self.sets.get(&key) {
            return Ok(set.clone());
        }
        let snapshot = match Snapshot::at(self.repo, revision) {
            Ok(snapshot) => snapshot,
            Err(SnapshotError::NoPipeline { .. } | SnapshotError::Pipeline(_)) => {
                self.sets.insert(key, None);
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        let set = match snapshot.pipeline().wave(wave) {
            None => None,
            Some(definition) => {
                let files = snapshot.wave_files(definition)?;
                Some(read_wave(&definition.images, &files).map_err(|source| {
                    PromotionError::Slots {
                        wave: wave.clone(),
                        source: Box::new(source),
                    }
                })?)
            }
        };
        self.sets.insert(key, set.clone());
        Ok(set)
    }

    pub(crate) fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, PromotionError> {
        Ok(self.repo.is_ancestor(ancestor, descendant)?)
    }
}

/// A target's effective report, with the time it first succeeded at that revision (after its
/// last failure there).
#[derive(Debug, Clone)]
pub(crate) struct Effective<'s> {
    pub(crate) report: &'s ReportRecord,
    pub(crate) since: SystemTime,
}

/// The effective report of a target: see the module documentation.
pub(crate) fn effective<'s>(
    reader: &Reader<'_>,
    reports: &'s [ReportRecord],
) -> Result<Option<Effective<'s>>, PromotionError> {
    let mut current: Option<&ReportRecord> = None;
    for report in reports {
        current = match current {
            None => Some(report),
            Some(seen) if seen.revision == report.revision => Some(report),
            // A late report for an older revision does not override a newer one.
            Some(seen) if reader.is_ancestor(&report.revision, &seen.revision)? => Some(seen),
            Some(_) => Some(report),
        };
    }
    let Some(report) = current else {
        return Ok(None);
    };
    // The soak clock starts at the first success at this revision after its last failure.
    let mut since = report.time();
    for earlier in reports.iter().rev() {
        if earlier.revision != report.revision {
            continue;
        }
        match earlier.status {
            DeployStatus::Failed => break,
            DeployStatus::Succeeded => since = since.min(earlier.time()),
        }
    }
    Ok(Some(Effective { report, since }))
}

/// Everything a decision about `source` needs.
pub(crate) struct Context<'a, 'r> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) state: &'a PipelineState,
    pub(crate) history: &'a AutomaticHistory,
    pub(crate) reader: &'a mut Reader<'r>,
    pub(crate) now: SystemTime,
    /// An admin's override: the next wave's freeze windows do not hold the step back.
    pub(crate) override_freeze: bool,
}

/// Where the wave's targets stand.
enum Completion {
    Incomplete(Transition),
    Complete {
        set: ImageSet,
        newest: CommitId,
        completed_at: SystemTime,
        revisions: Vec<CommitId>,
    },
}

fn completion(ctx: &mut Context<'_, '_>, source: &Wave) -> Result<Completion, PromotionError> {
    let mut common: Option<ImageSet> = None;
    let mut newest: Option<CommitId> = None;
    let mut completed_at = SystemTime::UNIX_EPOCH;
    let mut revisions = Vec::new();
    for target in &source.targets {
        let reports = ctx
            .state
            .reports
            .get(target)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(effective) = effective(ctx.reader, reports)? else {
            return Ok(Completion::Incomplete(Transition::Idle(format!(
                "target `{target}` of wave `{}` has not reported a deployment yet",
                source.name
            ))));
        };
        let revision = &effective.report.revision;
        if effective.report.status == DeployStatus::Failed {
            return Ok(Completion::Incomplete(Transition::Failed {
                target: target.clone(),
                revision: revision.clone(),
            }));
        }
        let Some(set) = ctx.reader.wave_set(&source.name, revision)? else {
            return Ok(Completion::Incomplete(Transition::Idle(format!(
                "wave `{}` does not exist at revision {}, which target `{target}` reported",
                source.name,
                revision.short()
            ))));
        };
        match &common {
            Some(seen) if seen != &set => {
                return Ok(Completion::Incomplete(Transition::Idle(format!(
                    "the targets of wave `{}` run different image sets (target `{target}` reported revision {})",
                    source.name,
                    revision.short()
                ))));
            }
            _ => common = Some(set),
        }
        newest = Some(match newest {
            Some(seen) if ctx.reader.is_ancestor(revision, &seen)? => seen,
            _ => revision.clone(),
        });
        completed_at = completed_at.max(effective.since);
        revisions.push(revision.clone());
    }
    match (common, newest) {
        (Some(set), Some(newest)) => Ok(Completion::Complete {
            set,
            newest,
            completed_at,
            revisions,
        }),
        _ => Ok(Completion::Incomplete(Transition::Idle(format!(
            "wave `{}` has no targets",
            source.name
        )))),
    }
}

/// Whether `revisions` all descend from the last promotion's source revision.
fn behind_last_promotion(
    ctx: &Context<'_, '_>,
    last: Option<&LastPromotion>,
    revisions: &[CommitId],
) -> Result<Option<CommitId>, PromotionError> {
    if let Some(last) = last {
        for revision in revisions {
            if !ctx.reader.is_ancestor(&last.source_revision, revision)? {
                return Ok(Some(revision.clone()));
            }
        }
    }
    Ok(None)
}

/// The images to write into `into`: the set less the services `hold` names in the pipeline
/// file; then split into what may be written and what a rollback or a person's edit holds.
pub(crate) fn filtered(
    state: &PipelineState,
    into: &Wave,
    set: &ImageSet,
) -> (ImageSet, Vec<(ServiceName, Hold)>) {
    let configured: ImageSet = set
        .iter()
        .filter(|(service, _)| !into.hold.contains(service))
        .map(|(service, image)| (service.clone(), image.clone()))
        .collect();
    state.holds.split(&into.name, &configured)
}

/// Applies the gates of `into` to a candidate from `source`.
fn gated(
    ctx: &mut Context<'_, '_>,
    source: &Wave,
    into: &Wave,
    mut candidate: Candidate,
) -> Result<Transition, PromotionError> {
    if let Some(soak) = into.soak {
        match candidate.completed_at {
            Some(completed) if completed + soak <= ctx.now => {}
            Some(completed) => {
                return Ok(Transition::Waiting(
                    candidate,
                    Gate::Soak {
                        ready_at: Some(completed + soak),
                    },
                ));
            }
            None => {
                return Ok(Transition::Waiting(
                    candidate,
                    Gate::Soak { ready_at: None },
                ));
            }
        }
    }
    if into.approval {
        match approval_for(ctx, source, into, &candidate.images)? {
            Some(approval) => candidate.approved_by = approval.by.clone(),
            None => return Ok(Transition::Waiting(candidate, Gate::Approval)),
        }
    }
    // Last: a freeze holds back only what would otherwise move now, so the gates before it
    // (an approval a person can give during the freeze) are seen first.
    if let Some(frozen) = into.frozen_at(ctx.now)
        && !ctx.override_freeze
    {
        return Ok(Transition::Waiting(
            candidate,
            Gate::Freeze {
                until: frozen.until,
                reason: frozen.reason,
            },
        ));
    }
    Ok(Transition::Ready(candidate))
}

/// The step out of `source`: what its targets deployed, and whether it may move on.
pub(crate) fn evaluate(
    ctx: &mut Context<'_, '_>,
    source: &Wave,
) -> Result<Transition, PromotionError> {
    let Some(into) = ctx.pipeline.next_wave(&source.name) else {
        return Ok(Transition::Idle(format!(
            "wave `{}` is the last wave",
            source.name
        )));
    };
    let (set, newest, completed_at, revisions) = match completion(ctx, source)? {
        Completion::Incomplete(transition) => return Ok(transition),
        Completion::Complete {
            set,
            newest,
            completed_at,
            revisions,
        } => (set, newest, completed_at, revisions),
    };
    let last = ctx.history.last_promotion(&into.name);
    if let Some(revision) = behind_last_promotion(ctx, last.as_ref(), &revisions)? {
        return Ok(Transition::Idle(format!(
            "revision {} is not newer than the source of the last promotion into `{}`",
            revision.short(),
            into.name
        )));
    }
    let (images, held) = filtered(ctx.state, into, &set);
    if images.is_empty() {
        let mut reason = format!(
            "every service of wave `{}` is held in wave `{}`",
            source.name, into.name
        );
        if !held.is_empty() {
            reason.push_str(&format!(": {}", super::holds::held_phrase(&held)));
        }
        return Ok(Transition::Idle(reason));
    }
    // Services held now are compared as left out of the last promotion too: what it wrote of
    // the others is what stands.
    if last.as_ref().is_some_and(|last| {
        let written: ImageSet = last
            .images
            .iter()
            .filter(|(service, _)| !held.iter().any(|(h, _)| h == *service))
            .map(|(service, image)| (service.clone(), image.clone()))
            .collect();
        written == images
    }) {
        return Ok(Transition::Idle(format!(
            "the images wave `{}` deployed were already promoted into `{}`",
            source.name, into.name
        )));
    }
    let candidate = Candidate {
        source_wave: source.name.clone(),
        into: into.name.clone(),
        source_revision: newest,
        images,
        held,
        completed_at: Some(completed_at),
        approved_by: None,
    };
    gated(ctx, source, into, candidate)
}

/// A promotion asked for by hand: the images `source` held at `revision`. The targets need
/// not have reported it, but the gates of the next wave still apply, and it is never allowed
/// to move the next wave behind its last promotion.
pub(crate) fn evaluate_manual(
    ctx: &mut Context<'_, '_>,
    source: &Wave,
    revision: &CommitId,
) -> Result<Transition, PromotionError> {
    let Some(into) = ctx.pipeline.next_wave(&source.name) else {
        return Err(PromotionError::LastWave {
            wave: source.name.clone(),
        });
    };
    let Some(set) = ctx.reader.wave_set(&source.name, revision)? else {
        return Err(PromotionError::WaveMissingAt {
            wave: source.name.clone(),
            revision: revision.clone(),
        });
    };
    let last = ctx.history.last_promotion(&into.name);
    if let Some(last) = &last
        && !ctx.reader.is_ancestor(&last.source_revision, revision)?
    {
        return Err(PromotionError::Stale {
            revision: revision.clone(),
            wave: into.name.clone(),
            last: last.source_revision.clone(),
        });
    }
    let (images, held) = filtered(ctx.state, into, &set);
    if images.is_empty() {
        if !held.is_empty() {
            // All that was asked for is held by a rollback or a person's edit: refused.
            return Err(PromotionError::OnHold(HeldBack {
                wave: into.name.clone(),
                held,
            }));
        }
        return Ok(Transition::Idle(format!(
            "every service of wave `{}` is held in wave `{}`",
            source.name, into.name
        )));
    }
    // The soak gate counts from when the wave's targets completed at these same images.
    let completed_at = match completion(ctx, source)? {
        Completion::Complete {
            set: deployed,
            completed_at,
            ..
        } if deployed == set => Some(completed_at),
        _ => None,
    };
    let candidate = Candidate {
        source_wave: source.name.clone(),
        into: into.name.clone(),
        source_revision: revision.clone(),
        images,
        held,
        completed_at,
        approved_by: None,
    };
    gated(ctx, source, into, candidate)
}

/// How long until a waiting soak gate opens (or a freeze window ends), for timers.
pub(crate) fn soak_deadline(transition: &Transition) -> Option<SystemTime> {
    match transition {
        Transition::Waiting(_, Gate::Soak { ready_at }) => *ready_at,
        Transition::Waiting(_, Gate::Freeze { until, .. }) => Some(*until),
        _ => None,
    }
}
