//! Promotion: deploy reports in, exactly the deployed images promoted wave by wave.
//!
//! Argo CD's post-deploy hooks report "target T is deployed at revision R"
//! ([`record_deployment`]). Reports and approvals are kept in the pipeline state on the
//! remote (the state document, [`PipelineState`]), so separate CLI runs, a restarted service and several replicas all
//! decide from the same facts. When every target of a wave has deployed the same image set,
//! that set, read from the reported revision and never from the tip, is written into the next
//! wave as one commit, once the next wave's gates allow it. The rules are written out in
//! `docs/promotion.md`.

pub(crate) mod approval;
pub(crate) mod decide;
pub(crate) mod deferred;
pub(crate) mod history;
pub(crate) mod history_filter;
pub(crate) mod holds;
pub(crate) mod ops;
pub(crate) mod state;
pub(crate) mod status;
pub(crate) mod wait;

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use approval::approve_candidate;
pub use deferred::DeferredRecord;
pub use history::{HISTORY_DEPTH, HistoryEntry};
pub use history_filter::{End, HistoryFilter, HistoryFilterError, TimeBound, history_matching};
pub use holds::{
    HeldBack, Hold, HoldError, Holds, ReleaseOutcome, RollbackOutcome, RollbackRequest, release,
    rollback,
};
pub use ops::{
    Advance, ApprovalOutcome, DeploymentOutcome, PromoteOutcome, Promotion, advance, approve,
    history, promote, promote_overriding_freeze, record_deployment, record_deployments,
};
pub use state::{
    ApprovalRecord, PipelineState, Published, PublishedService, RecentPublish, ReportRecord,
    StateProblem, StateStatus, UNAUTHENTICATED_WARNING, check as check_state, reset as reset_state,
};
pub use status::{
    HeldService, ReportView, STATUS_HISTORY, Status, StepState, TargetStatus, TransitionStatus,
    WaveStatus, status,
};
pub use wait::Wait;

use crate::names::{CommitId, Known, TargetName, WaveName};
use crate::render::RenderCheckError;
use crate::repository::RepositoryError;
use crate::slots::wave::WaveSlotError;
use crate::snapshot::SnapshotError;

/// How a deployment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployStatus {
    /// Synced and healthy.
    Succeeded,
    /// The sync or the health check failed.
    Failed,
}

impl DeployStatus {
    /// `succeeded` or `failed`, as the API and the state document spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
        }
    }
}

/// Who approved a promotion: a token's name, a person's name. One line of at most
/// [`Approver::MAX_LEN`] printable characters, so that it can stand in a trailer and a log
/// line as it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Approver(String);

/// Why an approver's identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproverError {
    /// Empty, or only spaces.
    #[error("the approver's identity is empty")]
    Empty,
    /// Too long.
    #[error("the approver's identity is {len} characters long; at most {max} are allowed", max = Approver::MAX_LEN)]
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// It holds a control character (a line break, say) or a format character.
    #[error("the approver's identity {shown} holds a control character; use one line of printable text", shown = crate::shown::shown(.identity))]
    Control {
        /// The identity given.
        identity: String,
    },
}

impl Approver {
    /// The longest identity, in characters.
    pub const MAX_LEN: usize = 128;

    /// Checks an identity (spaces around it are dropped).
    pub fn parse(identity: &str) -> Result<Self, ApproverError> {
        let trimmed = identity.trim();
        if trimmed.is_empty() {
            return Err(ApproverError::Empty);
        }
        let len = trimmed.chars().count();
        if len > Self::MAX_LEN {
            return Err(ApproverError::TooLong { len });
        }
        // Control characters would break the trailer or a log line; bidirectional and other
        // format characters would make it read as something else.
        let format = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}');
        if trimmed.chars().any(|c| c.is_control() || format(c)) {
            return Err(ApproverError::Control {
                identity: identity.to_owned(),
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The approver a credential's name stands for: the name when it is a valid identity,
    /// else [`Approver::default`] (`unnamed`), so that an approval is never refused for the
    /// name of the credential that made it.
    pub fn of_credential(name: &str) -> Self {
        Self::parse(name).unwrap_or_default()
    }

    /// The identity.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `unnamed`: for callers that know no identity (an unnamed credential).
impl Default for Approver {
    fn default() -> Self {
        Self("unnamed".to_owned())
    }
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Approver {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Approver {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Approver::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which target a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSelector {
    /// By the target's name in the pipeline file.
    Name(TargetName),
    /// By its Argo CD application's name (`argocd_app`).
    App(String),
}

/// A post-deploy hook's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployReport {
    /// The target.
    pub target: TargetSelector,
    /// The config revision it deployed.
    pub revision: CommitId,
    /// How it went.
    pub status: DeployStatus,
}

/// A gate a promotion waits at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// The source wave must stay deployed for the next wave's `soak`; it opens at `ready_at`
    /// (`None` while the source wave has not completed at these images).
    Soak {
        /// When the gate opens.
        ready_at: Option<SystemTime>,
    },
    /// The next wave needs `cfgupdate approve` for these images.
    Approval,
    /// The next wave is frozen (docs/promotion.md#freeze-windows): the promotion waits until
    /// the window ends.
    Freeze {
        /// When the window ends.
        until: SystemTime,
        /// Why the wave is frozen.
        reason: String,
    },
}

impl Gate {
    /// The gate's name in status and API answers.
    pub fn name(&self) -> &'static str {
        match self {
            Gate::Soak { .. } => "soak",
            Gate::Approval => "approval",
            Gate::Freeze { .. } => "freeze",
        }
    }

    /// One sentence saying what it waits for.
    pub fn describe(&self, into: &WaveName) -> String {
        match self {
            Gate::Soak { ready_at: Some(at) } => format!(
                "promotion into `{into}` waits for its soak time, until {}",
                jiff::Timestamp::try_from(*at)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            ),
            Gate::Soak { ready_at: None } => format!(
                "promotion into `{into}` waits for its soak time, which starts when every target of the wave before it has reported these images deployed"
            ),
            Gate::Approval => {
                format!(
                    "promotion into `{into}` waits for approval (`cfgupdate approve --wave {into}`)"
                )
            }
            Gate::Freeze { until, reason } => format!(
                "promotion into `{into}` waits: frozen until {} ({reason})",
                crate::freeze::rfc3339(*until)
            ),
        }
    }
}

/// Why a promotion operation failed. Nothing was half-done: a report is either recorded or
/// not, and a promotion is one commit or none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    /// The pipeline file or an image file could not be used.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The pipeline has no such target.
    #[error(
        "unknown target `{}`: the pipeline file names no such target; {known}",
        crate::shown::shown(target)
    )]
    UnknownTarget {
        /// The name given.
        target: String,
        /// The targets there are, and the nearest to the name given.
        known: Known,
    },
    /// No target has this Argo CD application.
    #[error(
        "unknown Argo CD application `{}`: no target of the pipeline file has it as `argocd_app`; {known}",
        crate::shown::shown(app)
    )]
    UnknownApp {
        /// The name given.
        app: String,
        /// The applications there are, and the nearest to the name given.
        known: Known,
    },
    /// The pipeline has no such wave.
    #[error(
        "unknown wave `{}`: the pipeline file names no such wave; {known}",
        crate::shown::shown(wave)
    )]
    UnknownWave {
        /// The name given.
        wave: String,
        /// The waves there are, and the nearest to the name given.
        known: Known,
    },
    /// There is no wave after this one.
    #[error("wave `{wave}` is the last wave: there is nothing to promote it into")]
    LastWave {
        /// The wave.
        wave: WaveName,
    },
    /// The first wave is written by publish, not by promotion or approval.
    #[error(
        "wave `{wave}` is the first wave: CI publishes into it, nothing is promoted or approved into it"
    )]
    FirstWave {
        /// The wave.
        wave: WaveName,
    },
    /// The revision is not on the branch.
    #[error("unknown revision {revision}: it is not a commit of the branch cfgupdate manages")]
    UnknownRevision {
        /// The revision given.
        revision: CommitId,
    },
    /// The wave does not exist at the revision.
    #[error("wave `{wave}` does not exist at revision {revision}")]
    WaveMissingAt {
        /// The wave.
        wave: WaveName,
        /// The revision.
        revision: CommitId,
    },
    /// Promoting this revision would move the next wave behind its last promotion.
    #[error(
        "revision {revision} is older than {last}, the source of the last promotion into `{wave}`; promoting it would move `{wave}` backwards"
    )]
    Stale {
        /// The revision asked for.
        revision: CommitId,
        /// The wave it would be written into.
        wave: WaveName,
        /// The source revision of the last promotion.
        last: CommitId,
    },
    /// Everything asked for is held in the wave by a rollback or a person's edit.
    #[error(transparent)]
    OnHold(#[from] holds::HeldBack),
    /// A gate refuses what was asked.
    #[error("{}", gate.describe(wave))]
    Gated {
        /// The wave promoted into.
        wave: WaveName,
        /// The gate.
        gate: Gate,
    },
    /// The slots of a wave could not be read or written.
    #[error("wave `{wave}`: {source}")]
    Slots {
        /// The wave.
        wave: WaveName,
        /// Why.
        source: Box<WaveSlotError>,
    },
    /// The render check refused the promotion, or its renders failed.
    #[error("wave `{wave}`: {source}")]
    Render {
        /// The wave.
        wave: WaveName,
        /// Why.
        source: Box<RenderCheckError>,
    },
    /// The stored state is not acted on.
    #[error(transparent)]
    State(#[from] StateProblem),
    /// `state reset` was asked for without a state key.
    #[error(
        "`state reset` needs the state key (CFGUPDATE_STATE_KEY or CFGUPDATE_STATE_KEY_FILE): a state written without it could be forged by anyone who can push"
    )]
    KeyRequired,
    /// `approve` was asked for a wave whose promotions need no approval.
    #[error(
        "wave `{wave}` has no approval gate (`approval = true` in its `[[wave]]` table of cfgupdate.toml): there is nothing to approve"
    )]
    NoApprovalGate {
        /// The wave.
        wave: WaveName,
    },
    /// `approve --revision` named a candidate that is not the one waiting for approval.
    #[error(
        "revision {asked} is not the candidate waiting for approval into `{wave}`: {}",
        match pending {
            Some(pending) => format!("the candidate waiting is revision {pending} (see `cfgupdate status`); approve that one with `--revision {pending}` if you mean it"),
            None => format!("nothing waits for approval there ({reason})"),
        }
    )]
    NotPending {
        /// The wave approved into.
        wave: WaveName,
        /// The revision asked for.
        asked: CommitId,
        /// The source revision of the candidate that waits, if one does.
        pending: Option<CommitId>,
        /// Why nothing waits, when nothing does.
        reason: String,
    },
    /// Every push was rejected because the remote kept moving.
    #[error(
        "the remote kept moving: {attempts} pushes in a row were rejected; nothing was changed, try again"
    )]
    Contended {
        /// How many pushes were tried.
        attempts: u32,
    },
}

#[cfg(test)]
mod tests;
