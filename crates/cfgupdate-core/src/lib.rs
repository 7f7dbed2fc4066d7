//! The pure heart of cfgupdate.
//!
//! Domain types, the lossless editing of image slots in JSON and Jsonnet, the pipeline file,
//! and the publish and promotion logic. This crate does no IO: it sees the config repository
//! and the clock only through traits, so it can be embedded, simulated and tested alone.

pub mod class;
pub mod clock;
mod intent;
pub mod memory;
pub mod names;
pub mod path;
pub mod pipeline;
pub mod promotion;
pub mod publish;
pub mod reference;
pub mod render;
pub mod repository;
pub mod retry;
pub mod slots;
pub mod snapshot;
pub mod trailers;

pub use class::{Classify, ErrorClass};
pub use clock::Clock;
pub use names::{CommitId, NameError, ServiceName, TargetName, WaveName};
pub use path::{RepoPath, RepoPathError};
pub use pipeline::{ImageSetLayout, Pipeline, PipelineError, Target, Wave};
pub use publish::{
    Announcement, AnnouncementError, PublishError, PublishOutcome, WriteOptions, publish,
    publish_batch,
};
pub use reference::{Digest, ImageRef, Part, ReferenceError};
pub use repository::{ConfigRepository, RepositoryError, RepositoryErrorKind};
pub use retry::RetryPolicy;
pub use slots::{ImageSet, SlotError};
