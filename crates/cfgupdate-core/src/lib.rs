//! The pure heart of cfgupdate.
//!
//! Domain types, the lossless editing of image slots in JSON and Jsonnet, the pipeline file,
//! and the publish and promotion logic. This crate does no IO: it sees the config repository
//! and the clock only through traits, so it can be embedded, simulated and tested alone.

pub mod clock;
pub mod names;
pub mod path;
pub mod pipeline;
pub mod reference;
pub mod repository;
pub mod slots;

pub use names::{CommitId, NameError, ServiceName, TargetName, WaveName};
pub use path::{RepoPath, RepoPathError};
pub use pipeline::{ImageSetLayout, Pipeline, PipelineError, Target, Wave};
pub use reference::{Digest, ImageRef, Part, ReferenceError};
pub use slots::{ImageSet, SlotError};
