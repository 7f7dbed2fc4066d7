//! What a step of the pipeline waits for, as one sentence: the words `cfgupdate status`, the
//! JSON status's `wait` and the status page all show.

use std::time::{Duration, SystemTime};

use super::Gate;
use super::decide::Transition;
use crate::names::{CommitId, TargetName, WaveName};

/// Why a promotion waits, with what a person needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// The soak of the wave promoted into has not passed yet.
    Soak {
        /// The wave promoted into.
        into: WaveName,
        /// The wave promoted from.
        source: WaveName,
        /// When it ends (`None` while the wave promoted from has not completed at these
        /// images, so the soak has not started).
        ends_at: Option<SystemTime>,
        /// How much of it is left, when `ends_at` is known (zero once it has passed: the next
        /// look promotes).
        left: Option<Duration>,
    },
    /// The candidate from this source revision waits for approval.
    Approval {
        /// The wave promoted into.
        into: WaveName,
        /// The candidate's source revision: what `approve --revision` takes.
        revision: CommitId,
    },
    /// The wave promoted into is frozen (a freeze window): the promotion waits until it ends.
    Freeze {
        /// The wave promoted into.
        into: WaveName,
        /// When the window (or the windows run together) ends.
        until: SystemTime,
        /// The reasons of the windows that hold.
        reason: String,
    },
    /// A target of the wave promoted from reported a failed deployment; promotion waits for a
    /// later success.
    FailedReport {
        /// The wave promoted into.
        into: WaveName,
        /// The target that failed.
        target: TargetName,
        /// The revision whose deployment failed.
        revision: CommitId,
    },
}

impl Wait {
    /// What a step waits for, if it waits: a gate or a failed report. `now` is when the step was
    /// evaluated (for the soak left).
    pub(crate) fn of(
        source: &WaveName,
        into: &WaveName,
        transition: &Transition,
        now: SystemTime,
    ) -> Option<Self> {
        match transition {
            Transition::Waiting(_, Gate::Soak { ready_at }) => Some(Wait::Soak {
                into: into.clone(),
                source: source.clone(),
                ends_at: *ready_at,
                left: ready_at.map(|at| at.duration_since(now).unwrap_or_default()),
            }),
            Transition::Waiting(candidate, Gate::Approval) => Some(Wait::Approval {
                into: into.clone(),
                revision: candidate.source_revision.clone(),
            }),
            Transition::Waiting(_, Gate::Freeze { until, reason }) => Some(Wait::Freeze {
                into: into.clone(),
                until: *until,
                reason: reason.clone(),
            }),
            Transition::Failed { target, revision } => Some(Wait::FailedReport {
                into: into.clone(),
                target: target.clone(),
                revision: revision.clone(),
            }),
            Transition::Idle(_) | Transition::Blocked(_) | Transition::Ready(_) => None,
        }
    }

    /// The wave promoted into.
    pub fn into(&self) -> &WaveName {
        match self {
            Wait::Soak { into, .. }
            | Wait::Approval { into, .. }
            | Wait::Freeze { into, .. }
            | Wait::FailedReport { into, .. } => into,
        }
    }

    /// One sentence saying what the promotion waits for and until when or for whom.
    pub fn sentence(&self) -> String {
        match self {
            Wait::Soak {
                into,
                ends_at: Some(at),
                left,
                ..
            } => format!(
                "promotion into `{into}` waits for its soak: {} left, until {}",
                left.map(rounded).unwrap_or_default(),
                jiff::Timestamp::try_from(*at)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            ),
            Wait::Soak {
                into,
                source,
                ends_at: None,
                ..
            } => format!(
                "promotion into `{into}` waits for its soak, which starts when every target of `{source}` has reported these images deployed"
            ),
            Wait::Approval { into, revision } => format!(
                "promotion into `{into}` waits for approval of revision {revision} (`cfgupdate approve --wave {into} --revision {revision}`)"
            ),
            Wait::Freeze {
                into,
                until,
                reason,
            } => format!(
                "promotion into `{into}` waits: frozen until {} ({reason})",
                crate::freeze::rfc3339(*until)
            ),
            Wait::FailedReport {
                into,
                target,
                revision,
            } => format!(
                "promotion into `{into}` waits: target `{target}` reported a failed deployment of revision {revision}; a later successful report moves it on"
            ),
        }
    }
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sentence())
    }
}

/// A duration to the second, in jiff's friendly form (`42m 10s`; `0s` when none is left).
fn rounded(left: Duration) -> String {
    jiff::SignedDuration::try_from(Duration::from_secs(left.as_secs()))
        .map(|d| format!("{d:#}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(name: &str) -> WaveName {
        WaveName::parse(name).unwrap()
    }

    fn revision() -> CommitId {
        CommitId::parse(&"ab".repeat(20)).unwrap()
    }

    #[test]
    fn each_wait_is_one_sentence_naming_what_to_act_on() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let soak = Wait::Soak {
            into: wave("internal"),
            source: wave("staging"),
            ends_at: Some(at),
            left: Some(Duration::from_millis(2_530_900)),
        };
        assert_eq!(
            soak.sentence(),
            "promotion into `internal` waits for its soak: 42m 10s left, until 2027-01-15T08:00:00Z"
        );
        let approval = Wait::Approval {
            into: wave("production"),
            revision: revision(),
        };
        assert_eq!(
            approval.sentence(),
            format!(
                "promotion into `production` waits for approval of revision {0} (`cfgupdate approve --wave production --revision {0}`)",
                revision()
            )
        );
        let failed = Wait::FailedReport {
            into: wave("production"),
            target: TargetName::parse("prod-us").unwrap(),
            revision: revision(),
        };
        assert!(
            failed
                .sentence()
                .contains("target `prod-us` reported a failed deployment of revision abab"),
            "{failed}"
        );
        for wait in [soak, approval, failed] {
            let sentence = wait.sentence();
            assert!(!sentence.contains('\n'), "{sentence}");
            assert_eq!(sentence.matches(". ").count(), 0, "{sentence}");
        }
    }
}
