//! What kind of failure an error is, decided once here so that the CLI's exit codes and the
//! service's HTTP statuses can never disagree about it.

use crate::promotion::PromotionError;
use crate::publish::{AnnouncementError, PublishError};
use crate::render::{RegenerateError, RenderCheckError};
use crate::repository::{RepositoryError, RepositoryErrorKind};
use crate::slots::SlotError;
use crate::slots::wave::WaveSlotError;
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

impl Classify for AnnouncementError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Invalid
    }
}

impl Classify for PublishError {
    fn class(&self) -> ErrorClass {
        match self {
            PublishError::Repository(error) => error.class(),
            PublishError::Snapshot(error) => error.class(),
            PublishError::Slots { .. } => ErrorClass::Invalid,
            PublishError::Render { source, .. } => source.class(),
            PublishError::Held { .. } => ErrorClass::Refused,
            PublishError::Stale { .. } => ErrorClass::Stale,
            PublishError::Contended { .. } => ErrorClass::Unavailable,
            PublishError::State(_) => ErrorClass::Unavailable,
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

impl Classify for RegenerateError {
    fn class(&self) -> ErrorClass {
        if self.is_invalid_input() {
            ErrorClass::Invalid
        } else {
            ErrorClass::Failed
        }
    }
}

impl Classify for RenderCheckError {
    fn class(&self) -> ErrorClass {
        match self {
            RenderCheckError::Regenerate(error) => error.class(),
            RenderCheckError::NotImageOnly { .. } => ErrorClass::Invalid,
            RenderCheckError::NoEffect(error) => error.class(),
        }
    }
}

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
            PromotionError::Gated { .. } => ErrorClass::Refused,
            // The state on the remote needs an admin (`state reset`) or a newer cfgupdate:
            // nothing was done, and the request may be sent again once it is fixed.
            PromotionError::State(_) => ErrorClass::Unavailable,
            PromotionError::KeyRequired => ErrorClass::Invalid,
            PromotionError::Contended { .. } => ErrorClass::Unavailable,
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
