//! What kind of failure an error is, decided once here so that the CLI's exit codes and the
//! service's HTTP statuses can never disagree about it.

use crate::key::StateKeyError;
use crate::names::NameError;
use crate::path::RepoPathError;
use crate::pipeline::PipelineError;
#[cfg(feature = "render")]
use crate::promotion::{ApproverError, PromotionError, StateProblem};
#[cfg(feature = "render")]
use crate::publish::{AnnouncementError, PublishError};
use crate::reference::{JoinError, ReferenceError};
#[cfg(feature = "render")]
use crate::render::yaml::YamlError;
#[cfg(feature = "render")]
use crate::render::{
    CheckError, EvaluationError, ExtractError, OutputError, Problem, RegenerateError,
    RenderCheckError, RenderError, SourceError,
};
use crate::repository::{RepositoryError, RepositoryErrorKind};
use crate::slots::SlotError;
use crate::slots::json::JsonSlotError;
use crate::slots::jsonnet::JsonnetSlotError;
use crate::slots::wave::{LayoutError, WaveSlotError};
use crate::snapshot::SnapshotError;

/// The kinds of failure the adapters distinguish (docs/contract.md#exit-codes,
/// docs/http.md#status-codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The remote could not be reached, or kept moving: try again later; nothing was done.
    /// (exit 1, HTTP 503)
    Unavailable,
    /// Something failed that retrying will not fix by itself. (exit 1, HTTP 500)
    Failed,
    /// The input, or the config repository's own files, are invalid. (exit 2, HTTP 422)
    Invalid,
    /// A stale or conflicting request. (exit 3, HTTP 409)
    Stale,
    /// Refused by policy: a hold, freeze or gate. (exit 3, HTTP 409)
    Refused,
    /// The remote declined a push for a reason of its own (a pre-receive hook, a protected
    /// branch); the message carries its words. Not retried. (exit 1, HTTP 502)
    Declined,
    /// A request that is not of the shape it must have (not JSON, unknown fields): the
    /// service's `400`. The CLI's usage errors are `Invalid`. (exit 2, HTTP 400)
    Malformed,
    /// No credentials, or credentials that are not valid. (exit 2, HTTP 401)
    Unauthenticated,
    /// Valid credentials of a scope that may not do this, or for an endpoint whose
    /// credentials are not configured. (exit 2, HTTP 403)
    Forbidden,
}

/// An error that knows its [`ErrorClass`].
pub trait Classify {
    /// The class of this failure.
    fn class(&self) -> ErrorClass;

    /// Whether an `Invalid` failure lies in the config repository's own files at the branch
    /// tip (a broken `cfgupdate.toml`, an image file or Jsonnet that cannot be read or
    /// rendered) rather than in the request: the sender did nothing wrong, and the same
    /// request succeeds once a person fixes the branch. The service answers 503 and reports
    /// not ready; the CLI still exits 2 (a config error).
    fn blames_repository(&self) -> bool {
        false
    }
}

fn wave_files_broken(error: &WaveSlotError) -> bool {
    match error {
        WaveSlotError::Layout(_) => true,
        WaveSlotError::Slot(error) => matches!(
            error,
            SlotError::Json(_)
                | SlotError::Jsonnet(_)
                | SlotError::InvalidStored { .. }
                | SlotError::Inconsistent { .. }
        ),
    }
}

#[cfg(feature = "render")]
fn render_broken(error: &RenderCheckError) -> bool {
    matches!(error, RenderCheckError::Regenerate(error) if error.is_invalid_input())
}

impl Classify for RepositoryError {
    fn class(&self) -> ErrorClass {
        match self.kind {
            RepositoryErrorKind::Unavailable => ErrorClass::Unavailable,
            // What was asked for does not exist (a branch the remote lacks, a revision): the
            // request names something wrong.
            RepositoryErrorKind::NotFound => ErrorClass::Invalid,
            RepositoryErrorKind::Failed => ErrorClass::Failed,
            RepositoryErrorKind::Declined => ErrorClass::Declined,
        }
    }
}

impl Classify for SnapshotError {
    fn class(&self) -> ErrorClass {
        match self {
            SnapshotError::Repository(error) => error.class(),
            SnapshotError::NoPipeline { .. }
            | SnapshotError::Pipeline(_)
            | SnapshotError::NotText { .. } => ErrorClass::Invalid,
        }
    }

    fn blames_repository(&self) -> bool {
        !matches!(self, SnapshotError::Repository(_))
    }
}

#[cfg(feature = "render")]
impl Classify for AnnouncementError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Invalid
    }
}

#[cfg(feature = "render")]
impl Classify for PublishError {
    fn class(&self) -> ErrorClass {
        match self {
            PublishError::Repository(error) => error.class(),
            PublishError::Snapshot(error) => error.class(),
            PublishError::Slots { .. } => ErrorClass::Invalid,
            PublishError::Render { source, .. } => source.class(),
            PublishError::Held { .. } | PublishError::Frozen { .. } | PublishError::OnHold(_) => {
                ErrorClass::Refused
            }
            PublishError::Stale { .. } => ErrorClass::Stale,
            PublishError::Evicted { .. } => ErrorClass::Refused,
            PublishError::Contended { .. } => ErrorClass::Unavailable,
            PublishError::State(problem) => problem.class(),
        }
    }

    fn blames_repository(&self) -> bool {
        match self {
            PublishError::Snapshot(error) => error.blames_repository(),
            PublishError::Slots { source, .. } => wave_files_broken(source),
            PublishError::Render { source, .. } => render_broken(source),
            _ => false,
        }
    }
}

#[cfg(feature = "render")]
impl Classify for RegenerateError {
    fn class(&self) -> ErrorClass {
        match self {
            // Reading failed; only a path leading out of the repository is the content's
            // fault (the CLI's directory files; the repository's own never lead out).
            RegenerateError::Source(error)
            | RegenerateError::Output(OutputError::Source(error)) => error.class(),
            RegenerateError::Render(error)
            | RegenerateError::Output(OutputError::Render(error)) => error.class(),
            RegenerateError::NoPipeline { .. } | RegenerateError::Pipeline(_) => {
                ErrorClass::Invalid
            }
        }
    }
}

#[cfg(feature = "render")]
impl Classify for SourceError {
    fn class(&self) -> ErrorClass {
        match self {
            SourceError::Outside { .. } => ErrorClass::Invalid,
            // A render that cannot read its files failed; it does not retry by itself.
            SourceError::Unreadable { .. } | SourceError::Repository(_) => ErrorClass::Failed,
        }
    }
}

#[cfg(feature = "render")]
impl Classify for EvaluationError {
    fn class(&self) -> ErrorClass {
        match self {
            EvaluationError::Source(error) => error.class(),
            // The evaluator's process died for a reason of its own.
            EvaluationError::Crashed { .. } => ErrorClass::Failed,
            // The Jsonnet at fault: it is missing, imports what it may not, does not evaluate,
            // or asks for more time, memory or stack than allowed.
            EvaluationError::MissingEntrypoint { .. }
            | EvaluationError::ImportRefused { .. }
            | EvaluationError::Jsonnet { .. }
            | EvaluationError::TooDeep { .. }
            | EvaluationError::TimedOut { .. }
            | EvaluationError::OutOfMemory { .. }
            | EvaluationError::StackExhausted { .. } => ErrorClass::Invalid,
        }
    }
}

#[cfg(feature = "render")]
impl Classify for RenderError {
    fn class(&self) -> ErrorClass {
        match self {
            RenderError::Evaluation { source, .. } => source.class(),
            // What the Jsonnet evaluated to cannot be turned into output files.
            _ => ErrorClass::Invalid,
        }
    }
}

#[cfg(feature = "render")]
impl Classify for OutputError {
    fn class(&self) -> ErrorClass {
        match self {
            OutputError::Source(error) => error.class(),
            OutputError::Render(error) => error.class(),
        }
    }
}

#[cfg(feature = "render")]
impl Classify for CheckError {
    fn class(&self) -> ErrorClass {
        match self {
            CheckError::Pipeline(error) => error.class(),
            CheckError::Source(error) => error.class(),
        }
    }
}

#[cfg(feature = "render")]
/// A problem `check` found: the repository's content, but for a target whose render failed
/// for a reason of its own.
impl Classify for Problem {
    fn class(&self) -> ErrorClass {
        match self {
            Problem::Render(error) => error.class(),
            _ => ErrorClass::Invalid,
        }
    }
}

/// Errors that only ever say a value (an argument, a field, a file's content) breaks a rule.
macro_rules! invalid {
    ($($error:ty),* $(,)?) => {
        $(impl Classify for $error {
            fn class(&self) -> ErrorClass {
                ErrorClass::Invalid
            }
        })*
    };
}

invalid!(
    StateKeyError,
    NameError,
    RepoPathError,
    ReferenceError,
    JoinError,
    SlotError,
    JsonSlotError,
    JsonnetSlotError,
);

#[cfg(feature = "render")]
invalid!(ApproverError, ExtractError, YamlError);

/// Errors in the config repository's own files: the sender of a request is not at fault.
macro_rules! invalid_content {
    ($($error:ty),* $(,)?) => {
        $(impl Classify for $error {
            fn class(&self) -> ErrorClass {
                ErrorClass::Invalid
            }
            fn blames_repository(&self) -> bool {
                true
            }
        })*
    };
}

invalid_content!(PipelineError, LayoutError);

impl Classify for WaveSlotError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Invalid
    }

    fn blames_repository(&self) -> bool {
        wave_files_broken(self)
    }
}

#[cfg(feature = "render")]
/// The stored state cannot be acted on until an admin resets it or cfgupdate is upgraded:
/// nothing was done, and the request may be sent again then.
impl Classify for StateProblem {
    fn class(&self) -> ErrorClass {
        ErrorClass::Unavailable
    }
}

#[cfg(feature = "render")]
impl Classify for RenderCheckError {
    fn class(&self) -> ErrorClass {
        match self {
            RenderCheckError::Regenerate(error) => error.class(),
            RenderCheckError::NotImageOnly { .. } => ErrorClass::Invalid,
            RenderCheckError::NoEffect(error) => error.class(),
        }
    }
}

#[cfg(feature = "render")]
impl Classify for crate::promotion::HoldError {
    fn class(&self) -> ErrorClass {
        use crate::promotion::HoldError;
        match self {
            HoldError::Promotion(error) => error.class(),
            HoldError::ConfigHeld { .. } => ErrorClass::Refused,
            HoldError::UnknownService { .. }
            | HoldError::NotHeld { .. }
            | HoldError::NothingHeld { .. } => ErrorClass::Invalid,
        }
    }

    fn blames_repository(&self) -> bool {
        match self {
            crate::promotion::HoldError::Promotion(error) => error.blames_repository(),
            _ => false,
        }
    }
}

#[cfg(feature = "render")]
impl Classify for PromotionError {
    fn class(&self) -> ErrorClass {
        match self {
            PromotionError::Repository(error) => error.class(),
            PromotionError::Snapshot(error) => error.class(),
            PromotionError::Render { source, .. } => source.class(),
            PromotionError::UnknownTarget { .. }
            | PromotionError::UnknownApp { .. }
            | PromotionError::UnknownWave { .. }
            | PromotionError::LastWave { .. }
            | PromotionError::FirstWave { .. }
            | PromotionError::UnknownRevision { .. }
            | PromotionError::WaveMissingAt { .. }
            | PromotionError::Slots { .. } => ErrorClass::Invalid,
            PromotionError::Stale { .. } => ErrorClass::Stale,
            PromotionError::Gated { .. } | PromotionError::OnHold(_) => ErrorClass::Refused,
            PromotionError::State(problem) => problem.class(),
            PromotionError::KeyRequired => ErrorClass::Invalid,
            PromotionError::Contended { .. } => ErrorClass::Unavailable,
            PromotionError::NoApprovalGate { .. } => ErrorClass::Invalid,
            PromotionError::NotPending { .. } => ErrorClass::Stale,
        }
    }

    fn blames_repository(&self) -> bool {
        match self {
            PromotionError::Snapshot(error) => error.blames_repository(),
            PromotionError::Slots { source, .. } => wave_files_broken(source),
            PromotionError::Render { source, .. } => render_broken(source),
            _ => false,
        }
    }
}

#[cfg(all(test, feature = "render"))]
mod tests {
    use super::*;
    use crate::render::RenderError;

    fn outside() -> SourceError {
        SourceError::Outside {
            path: "lib/x.libsonnet".into(),
            reason: "it resolves to /etc/passwd".into(),
        }
    }

    fn unreadable() -> SourceError {
        SourceError::Unreadable {
            path: "cfgupdate.toml".into(),
            reason: "it is not UTF-8 text".into(),
        }
    }

    /// The CLI used to decide these itself (a path out of the checkout is the content's
    /// fault, exit 2; a file it cannot read is an operational failure, exit 1), while the
    /// core called every reading failure `Failed`: one rule now, the same wherever the error
    /// is wrapped.
    #[test]
    fn a_path_out_of_the_repository_is_invalid_and_an_unreadable_file_failed_however_wrapped() {
        let target = crate::names::TargetName::parse("staging").unwrap();
        let wrapped = |source: SourceError| {
            [
                source.class(),
                RegenerateError::Source(source.clone()).class(),
                RegenerateError::Output(OutputError::Source(source.clone())).class(),
                CheckError::Source(source.clone()).class(),
                CheckError::Pipeline(RegenerateError::Source(source.clone())).class(),
                RenderError::Evaluation {
                    target: target.clone(),
                    source: EvaluationError::Source(source.clone()),
                }
                .class(),
            ]
        };
        assert!(wrapped(outside()).iter().all(|c| *c == ErrorClass::Invalid));
        assert!(
            wrapped(unreadable())
                .iter()
                .all(|c| *c == ErrorClass::Failed)
        );
        assert!(RegenerateError::Source(outside()).is_invalid_input());
        assert!(!RegenerateError::Source(unreadable()).is_invalid_input());
    }

    #[test]
    fn a_render_problem_of_check_has_its_render_errors_class() {
        let target = crate::names::TargetName::parse("staging").unwrap();
        let crashed = RenderError::Evaluation {
            target: target.clone(),
            source: EvaluationError::Source(unreadable()),
        };
        assert_eq!(Problem::Render(crashed.clone()).class(), ErrorClass::Failed);
        assert!(!crashed.is_invalid_input());
        let refused = RenderError::Evaluation {
            target,
            source: EvaluationError::Source(outside()),
        };
        assert_eq!(
            Problem::Render(refused.clone()).class(),
            ErrorClass::Invalid
        );
        assert!(refused.is_invalid_input());
        assert_eq!(
            Problem::ImageFiles("images/a.json is in two waves".into()).class(),
            ErrorClass::Invalid
        );
    }
}
