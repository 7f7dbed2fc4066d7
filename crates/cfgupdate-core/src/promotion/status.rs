//! `cfgupdate status`: each wave's images, each target's last report, and what waits on what.

use std::time::{Duration, SystemTime};

use super::decide::{Context, Reader, Transition, evaluate};
use super::history::{AutomaticHistory, HistoryEntry};
use super::holds::Hold;
use super::state::{self, PipelineState, ReportRecord, StateStatus};
use super::{DeployStatus, Gate, PromotionError, Wait};
use crate::clock::Clock;
use crate::key::StateKey;
use crate::names::{CommitId, ServiceName, TargetName, WaveName};
use crate::pipeline::Pin;
use crate::reference::ImageRef;
use crate::repository::ConfigRepository;
use crate::slots::ImageSet;
use crate::slots::wave::{digestless_services, read_wave};
use crate::snapshot::Snapshot;

/// The whole pipeline at the branch tip, as typed values: the adapters decide how it is
/// written (the JSON of `GET /v1/status` and `cfgupdate status --json`, the status page, the
/// CLI's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The branch tip read.
    pub revision: CommitId,
    /// The waves, in order.
    pub waves: Vec<WaveStatus>,
    /// Whether the pipeline state is authenticated and acted on.
    pub state: StateStatus,
    /// The newest automatic commits, newest first (at most [`STATUS_HISTORY`]), as
    /// `cfgupdate history` shows them: unsealed ones included and marked, since people should
    /// see what someone pushed in cfgupdate's name.
    pub history: Vec<HistoryEntry>,
}

/// How many automatic commits [`Status::history`] holds.
pub const STATUS_HISTORY: usize = 20;

/// One wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveStatus {
    /// Its name.
    pub name: WaveName,
    /// Its image set at the tip.
    pub images: ImageSet,
    /// Why the image set could not be read, if it could not (one sentence).
    pub images_error: Option<String>,
    /// Its soak gate, as configured.
    pub soak: Option<Duration>,
    /// Whether promotion into it needs approval.
    pub approval: bool,
    /// Services automation does not change in it.
    pub hold: Vec<ServiceName>,
    /// Its `pin`.
    pub pin: Pin,
    /// Services whose slots cannot hold a digest, so that they are written by tag (accepted
    /// with `pin = "tag"`; with `pin = "digest"` writing them is refused and `check` reports
    /// them).
    pub digestless: Vec<ServiceName>,
    /// Services a rollback or a person's edit holds in it, until `cfgupdate release`.
    pub held: Vec<HeldService>,
    /// Its targets.
    pub targets: Vec<TargetStatus>,
    /// The step out of this wave into the next (`None` for the last wave).
    pub promotion: Option<TransitionStatus>,
    /// Whether the wave is frozen now: until when, and why (docs/promotion.md#freeze-windows).
    pub frozen: Option<crate::freeze::Frozen>,
    /// The announcements a freeze held back, waiting to be published into this wave (only the
    /// first wave has any), oldest first.
    pub deferred: Vec<super::DeferredRecord>,
}

/// A service held in a wave by a rollback or a person's edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldService {
    /// The service.
    pub service: ServiceName,
    /// What holds it.
    pub hold: Hold,
    /// For a rollback: the rollback commit, when the branch's newest commits show it.
    pub rollback_commit: Option<CommitId>,
}

impl HeldService {
    /// One sentence: what holds the service, and how to lift it.
    pub fn describe(&self, wave: &WaveName) -> String {
        let what = match (&self.hold, &self.rollback_commit) {
            (Hold::Rollback { .. }, Some(commit)) => {
                format!("{} (commit {})", self.hold.describe(), commit.short())
            }
            _ => self.hold.describe(),
        };
        format!(
            "`{}` is {what}; automation leaves it in `{wave}` until `cfgupdate release --wave {wave} --service {}`",
            self.service, self.service
        )
    }
}

/// One target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    /// Its name.
    pub name: TargetName,
    /// Its Argo CD application.
    pub argocd_app: String,
    /// The last report received.
    pub last_report: Option<ReportView>,
}

/// A report as status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    /// The revision reported.
    pub revision: CommitId,
    /// How it went.
    pub status: DeployStatus,
    /// When it was received.
    pub at: SystemTime,
}

impl ReportView {
    /// How long ago the report was received, at `now` (zero for a report stamped later than
    /// `now`: another replica's clock may run ahead).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.at).unwrap_or_default()
    }
}

/// Where the step from one wave into the next stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepState {
    /// Nothing to promote.
    Idle,
    /// Something stops promotion (a failed deployment, a state not acted on, ...).
    Blocked,
    /// A candidate waits at a gate.
    Waiting,
    /// A candidate may be promoted now.
    Ready,
}

impl StepState {
    /// `idle`, `blocked`, `waiting` or `ready`, as status answers spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Idle => "idle",
            StepState::Blocked => "blocked",
            StepState::Waiting => "waiting",
            StepState::Ready => "ready",
        }
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The step from one wave into the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionStatus {
    /// The wave promoted into.
    pub into: WaveName,
    /// Where the step stands.
    pub state: StepState,
    /// One sentence: why.
    pub reason: String,
    /// The gate waited at, when [`StepState::Waiting`] (a soak gate with its opening time,
    /// when known).
    pub gate: Option<Gate>,
    /// The revision the candidate comes from.
    pub source_revision: Option<CommitId>,
    /// The images that would be promoted.
    pub images: Option<ImageSet>,
    /// What the step waits for, in one sentence ([`Wait::sentence`]): a gate, or a failed
    /// report.
    pub wait: Option<Wait>,
}

impl TransitionStatus {
    /// When the soak gate waited at opens, if the step waits at one whose opening is known.
    pub fn ready_at(&self) -> Option<SystemTime> {
        match self.gate {
            Some(Gate::Soak { ready_at }) => ready_at,
            _ => None,
        }
    }

    /// How much of the soak is left at `now`, while the step waits at a soak gate whose
    /// opening is known (zero once it has passed: the next look promotes).
    pub fn soak_left(&self, now: SystemTime) -> Option<Duration> {
        match (self.state, self.ready_at()) {
            (StepState::Waiting, Some(at)) => Some(at.duration_since(now).unwrap_or_default()),
            _ => None,
        }
    }

    /// The candidate's images that differ from what the wave promoted into holds (`into`):
    /// what the step would change. Empty when there is no candidate.
    pub fn changes<'s>(&'s self, into: &ImageSet) -> Vec<(&'s ServiceName, &'s ImageRef)> {
        self.images
            .iter()
            .flatten()
            .filter(|(service, image)| into.get(*service) != Some(*image))
            .collect()
    }
}

impl From<&ReportRecord> for ReportView {
    fn from(record: &ReportRecord) -> Self {
        Self {
            revision: record.revision.clone(),
            status: record.status,
            at: record.time(),
        }
    }
}

fn transition_status(
    source: &WaveName,
    into: WaveName,
    transition: Transition,
    now: SystemTime,
) -> TransitionStatus {
    let mut status = TransitionStatus {
        into: into.clone(),
        state: StepState::Idle,
        reason: String::new(),
        gate: None,
        source_revision: None,
        images: None,
        wait: Wait::of(source, &into, &transition, now),
    };
    match transition {
        Transition::Idle(reason) => status.reason = reason,
        Transition::Blocked(reason) => {
            status.state = StepState::Blocked;
            status.reason = reason;
        }
        Transition::Failed { target, revision } => {
            status.state = StepState::Blocked;
            status.reason = format!(
                "target `{target}` reported a failed deployment of revision {}",
                revision.short()
            );
        }
        Transition::Waiting(candidate, gate) => {
            status.state = StepState::Waiting;
            status.reason = gate.describe(&into);
            status.gate = Some(gate);
            status.source_revision = Some(candidate.source_revision);
            status.images = Some(candidate.images);
        }
        Transition::Ready(candidate) => {
            status.state = StepState::Ready;
            status.reason = format!(
                "the images wave `{}` deployed may be promoted into `{into}` now",
                candidate.source_wave
            );
            status.source_revision = Some(candidate.source_revision);
            status.images = Some(candidate.images);
        }
    }
    status
}

/// Reads the pipeline's status from the remote (after a fetch). A state that is not acted on
/// does not fail it: `state.problem` says why, no report of it is shown, and every promotion
/// is blocked by it.
pub fn status(
    repo: &mut dyn ConfigRepository,
    clock: &dyn Clock,
    key: Option<&StateKey>,
) -> Result<Status, PromotionError> {
    let tip = repo.refresh()?;
    let snapshot = Snapshot::at(repo, &tip)?;
    let pipeline = snapshot.pipeline();
    let (state, problem) = match state::load(repo, key, &tip) {
        Ok(state) => (state, None),
        Err(PromotionError::State(problem)) => (PipelineState::default(), Some(problem)),
        Err(error) => return Err(error),
    };
    let history = AutomaticHistory::read(repo, &tip, key)?;
    let mut reader = Reader::new(repo);
    let mut waves = Vec::new();
    for wave in &pipeline.waves {
        let mut digestless = Vec::new();
        let (images, images_error) = match snapshot.wave_files(wave) {
            Ok(files) => match read_wave(&wave.images, &files) {
                Ok(set) => {
                    digestless = digestless_services(&wave.images, &files)
                        .map(|found| found.into_keys().collect())
                        .unwrap_or_default();
                    (set, None)
                }
                Err(error) => (ImageSet::new(), Some(error.to_string())),
            },
            Err(error) => (ImageSet::new(), Some(error.to_string())),
        };
        let targets = wave
            .targets
            .iter()
            .map(|name| TargetStatus {
                name: name.clone(),
                argocd_app: pipeline
                    .target(name)
                    .map(|t| t.argocd_app.clone())
                    .unwrap_or_default(),
                last_report: state
                    .reports
                    .get(name)
                    .and_then(|r| r.last())
                    .map(ReportView::from),
            })
            .collect();
        let promotion = match pipeline.next_wave(&wave.name) {
            None => None,
            Some(into) if problem.is_some() => Some(transition_status(
                &wave.name,
                into.name.clone(),
                Transition::Blocked(problem.as_ref().map(|p| p.to_string()).unwrap_or_default()),
                clock.now(),
            )),
            Some(into) => {
                let now = clock.now();
                let mut ctx = Context {
                    pipeline,
                    state: &state,
                    history: &history,
                    reader: &mut reader,
                    now,
                    override_freeze: false,
                };
                let transition = match evaluate(&mut ctx, wave) {
                    Ok(transition) => transition,
                    Err(error) => Transition::Blocked(error.to_string()),
                };
                Some(transition_status(
                    &wave.name,
                    into.name.clone(),
                    transition,
                    now,
                ))
            }
        };
        let first = pipeline.first_wave().name == wave.name;
        let held = state
            .holds
            .in_wave(&wave.name)
            .map(|(service, hold)| HeldService {
                service: service.clone(),
                hold: hold.clone(),
                rollback_commit: match hold {
                    Hold::Rollback { .. } => history.last_rollback(&wave.name, service),
                    Hold::Edit { .. } => None,
                },
            })
            .collect();
        waves.push(WaveStatus {
            frozen: wave.frozen_at(clock.now()),
            deferred: if first {
                state.deferred.clone()
            } else {
                Vec::new()
            },
            name: wave.name.clone(),
            held,
            images,
            images_error,
            soak: wave.soak,
            approval: wave.approval,
            hold: wave.hold.clone(),
            pin: wave.pin,
            digestless,
            targets,
            promotion,
        });
    }
    Ok(Status {
        revision: tip,
        waves,
        state: state::state_status(key, problem.map(|p| p.to_string())),
        history: history.entries(STATUS_HISTORY),
    })
}
