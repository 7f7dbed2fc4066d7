//! Approvals are per candidate: which approval lets a candidate through an approval gate, and
//! `approve` itself (the CLI's `cfgupdate approve`, the service's `POST /v1/approvals`).
//!
//! The rules (docs/promotion.md, "Approvals"):
//! - An approval is for one image set: it lets a candidate through only when it is the
//!   **newest** approval recorded for the wave and its images are exactly the candidate's.
//! - An approval **lapses** when the wave promoted from deploys another set after it: any
//!   report of one of its targets, received after the approval, of a revision at which that
//!   wave holds (less the held services) other images than the approved ones. So approving X,
//!   then Y becoming the candidate, then X again, needs a new approval of X: the approver saw
//!   X replaced once, and whatever came back is a new decision.
//! - `approve --revision R` approves only the candidate whose source revision is R (the one
//!   `status` shows); when another one waits, nothing is recorded and the request is refused
//!   with both revisions named ([`PromotionError::NotPending`]).

use super::decide::{Candidate, Context, Reader, Transition, evaluate, filtered};
use super::history::AutomaticHistory;
use super::ops::{ApprovalOutcome, Step, reason_of, step};
use super::state::{self, ApprovalRecord, CatchUp, PipelineState, millis};
use super::{Approver, PromotionError};
use crate::clock::Clock;
use crate::intent::WriteOptions;
use crate::names::{CommitId, WaveName};
use crate::pipeline::Wave;
use crate::repository::ConfigRepository;
use crate::slots::ImageSet;
use crate::snapshot::Snapshot;

/// The approval that lets `images` from `source` into `into`, by the rules of the module
/// documentation: the newest approval of `into`, for exactly these images, not lapsed.
pub(crate) fn approval_for<'a>(
    ctx: &mut Context<'a, '_>,
    source: &Wave,
    into: &Wave,
    images: &ImageSet,
) -> Result<Option<&'a ApprovalRecord>, PromotionError> {
    let state = ctx.state;
    let Some(newest) = state.approvals.get(&into.name).and_then(|list| list.last()) else {
        return Ok(None);
    };
    if &newest.images != images {
        return Ok(None);
    }
    for target in &source.targets {
        let later = state
            .reports
            .get(target)
            .into_iter()
            .flatten()
            .filter(|report| report.at > newest.at);
        for report in later {
            if deployed_another_set(
                ctx.reader,
                ctx.state,
                source,
                into,
                &report.revision,
                images,
            )? {
                return Ok(None);
            }
        }
    }
    Ok(Some(newest))
}

/// Whether `source` held, at `revision`, another set than `images` (as it would be promoted
/// into `into`: less the held services).
fn deployed_another_set(
    reader: &mut Reader<'_>,
    state: &PipelineState,
    source: &Wave,
    into: &Wave,
    revision: &CommitId,
    images: &ImageSet,
) -> Result<bool, PromotionError> {
    Ok(match reader.wave_set(&source.name, revision)? {
        Some(set) => &filtered(state, into, &set).0 != images,
        // The wave did not exist there: nothing of it was deployed.
        None => false,
    })
}

/// Approves what waits to enter `wave`: records the approval of exactly that candidate by
/// `by`, and promotes it if no other gate still waits (the promotion commit names the approver
/// in `Cfgupdate-Approved-By`). With `revision`, only the candidate whose source revision it
/// is may be approved: another one waiting is [`PromotionError::NotPending`], and nothing is
/// recorded. A wave without an approval gate is [`PromotionError::NoApprovalGate`].
pub fn approve_candidate(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    wave: &WaveName,
    revision: Option<&CommitId>,
    by: &Approver,
    options: &WriteOptions,
) -> Result<ApprovalOutcome, PromotionError> {
    let tip = repo.refresh()?;
    let pipeline = Snapshot::at(repo, &tip)?.pipeline().clone();
    let Some(position) = pipeline.waves.iter().position(|w| &w.name == wave) else {
        return Err(PromotionError::UnknownWave {
            wave: wave.to_string(),
            known: pipeline.known_waves(wave.as_str()),
        });
    };
    if position == 0 {
        return Err(PromotionError::FirstWave { wave: wave.clone() });
    }
    let into = &pipeline.waves[position];
    if !into.approval {
        return Err(PromotionError::NoApprovalGate { wave: wave.clone() });
    }
    let source = &pipeline.waves[position - 1];
    let key = options.key.as_ref();
    let state = state::load(repo, key, &tip)?;
    let history = AutomaticHistory::read(repo, &tip, key)?;
    let mut reader = Reader::new(repo);
    let mut ctx = Context {
        pipeline: &pipeline,
        state: &state,
        history: &history,
        reader: &mut reader,
        now: clock.now(),
        override_freeze: false,
    };
    let transition = evaluate(&mut ctx, source)?;
    let candidate: Candidate = match transition {
        Transition::Waiting(candidate, _) | Transition::Ready(candidate) => candidate,
        other => {
            let reason = reason_of(Some(&other));
            let Some(asked) = revision else {
                return Ok(ApprovalOutcome::Unchanged {
                    reason: format!("nothing waits for approval into `{wave}`: {reason}"),
                });
            };
            // Asked again after it went through (a retried request): nothing to do.
            if history
                .last_promotion(wave)
                .is_some_and(|last| &last.source_revision == asked)
            {
                return Ok(ApprovalOutcome::Unchanged {
                    reason: format!(
                        "revision {asked} was already promoted into `{wave}`: nothing waits for approval"
                    ),
                });
            }
            return Err(PromotionError::NotPending {
                wave: wave.clone(),
                asked: asked.clone(),
                pending: None,
                reason,
            });
        }
    };
    if let Some(asked) = revision
        && asked != &candidate.source_revision
    {
        return Err(PromotionError::NotPending {
            wave: wave.clone(),
            asked: asked.clone(),
            pending: Some(candidate.source_revision.clone()),
            reason: String::new(),
        });
    }
    let approved = approval_for(&mut ctx, source, into, &candidate.images)?.is_some();
    if !approved {
        let record = ApprovalRecord {
            images: candidate.images.clone(),
            source_revision: candidate.source_revision.clone(),
            at: millis(clock.now()),
            by: Some(by.clone()),
        };
        let message = format!(
            "Approve {} images into {wave} from revision {} (by {by})",
            candidate.images.len(),
            candidate.source_revision.short()
        );
        state::update(
            repo,
            clock,
            &options.retry,
            key,
            &tip,
            &message,
            CatchUp::Along(&tip),
            |state| state.add_approval(wave, record.clone()),
        )?;
    }
    let (outcome, transition) = step(
        repo,
        clock,
        options,
        &source.name,
        Step::Approval,
        true,
        None,
    )?;
    Ok(match (outcome, transition) {
        (Some(promotion), _) => ApprovalOutcome::Promoted {
            commit: promotion.commit,
            wave: promotion.wave,
            completed_at: promotion.completed_at,
        },
        (None, Some(Transition::Waiting(_, gate))) => ApprovalOutcome::Approved { waiting: gate },
        (None, transition) => ApprovalOutcome::Unchanged {
            reason: reason_of(transition.as_ref()),
        },
    })
}
