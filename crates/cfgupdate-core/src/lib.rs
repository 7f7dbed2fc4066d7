//! The pure heart of cfgupdate: it moves container images through a GitOps pipeline whose
//! configuration is Jsonnet.
//!
//! CI announces new images ([`publish`]); they are written into the first wave of the config
//! repository as one commit. Post-deploy hooks report what each target deployed
//! ([`promotion::record_deployment`]); when every target of a wave has deployed the same image
//! set, exactly that set moves into the next wave, through its gates (soak, approval, hold). People
//! edit the same repository by hand at the same time: every write replays its intent on the newest
//! tip and never force-pushes, so nothing of theirs is lost.
//!
//! This crate does no IO. It sees the config repository through [`ConfigRepository`] and time
//! through [`Clock`]; `cfgupdate-git` implements the first on a real remote, and
//! [`memory::MemoryRepository`] implements it in memory for tests and simulations.
//!
//! # Embedding
//!
//! Drive a whole promotion with any `ConfigRepository` and `Clock`:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use cfgupdate_core::memory::MemoryRepository;
//! use cfgupdate_core::promotion::{self, DeployReport, DeployStatus, DeploymentOutcome, TargetSelector};
//! use cfgupdate_core::{Announcement, Clock, CommitId, ImageRef, ImageSet, PublishOutcome, ServiceName, TargetName, WriteOptions};
//!
//! struct Now;
//! impl Clock for Now {
//!     fn now(&self) -> SystemTime { SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) }
//!     fn sleep(&self, _: Duration) {}
//! }
//!
//! // A config repository: two waves, one target each, JSON image files, Jsonnet entrypoints.
//! let pipeline = r#"
//! [[wave]]
//! name = "staging"
//! images = "images/staging.json"
//! targets = ["staging"]
//!
//! [[wave]]
//! name = "production"
//! images = "images/production.json"
//! targets = ["prod"]
//!
//! [target.staging]
//! entrypoint = "staging.jsonnet"
//!
//! [target.prod]
//! entrypoint = "prod.jsonnet"
//! "#;
//! let app = |images: &str| format!(
//!     "local i = import '{images}';\n{{ apiVersion: 'v1', kind: 'Pod', metadata: {{ name: 'api' }}, spec: {{ containers: [{{ name: 'api', image: i.api }}] }} }}\n"
//! );
//! let old = format!("reg.example.com/api:v1@sha256:{}", "1".repeat(64));
//! let image_file = format!("{{\n  \"api\": \"{old}\"\n}}\n");
//! let mut repo = MemoryRepository::new(&[
//!     ("cfgupdate.toml", pipeline),
//!     ("images/staging.json", &image_file),
//!     ("images/production.json", &image_file),
//!     ("staging.jsonnet", &app("images/staging.json")),
//!     ("prod.jsonnet", &app("images/production.json")),
//! ]);
//! let options = WriteOptions::default();
//!
//! // CI announces a new image: one commit on the first wave.
//! let new = ImageRef::parse(&format!("reg.example.com/api:v2@sha256:{}", "2".repeat(64)))?;
//! let images = ImageSet::from([(ServiceName::parse("api")?, new.clone())]);
//! let announcement = Announcement::new(CommitId::parse(&"a".repeat(40))?, images)?;
//! let PublishOutcome::Committed { commit, .. } = cfgupdate_core::publish(&mut repo, &Now, &announcement, &options)? else {
//!     unreachable!("the wave held other images")
//! };
//!
//! // Argo CD reports that staging deployed that commit: the images move on to production.
//! let report = DeployReport {
//!     target: TargetSelector::Name(TargetName::parse("staging")?),
//!     revision: commit,
//!     status: DeployStatus::Succeeded,
//! };
//! let outcome = promotion::record_deployment(&mut repo, &Now, &report, &options)?;
//! assert!(matches!(outcome, DeploymentOutcome::Promoted { .. }));
//! let status = promotion::status(&mut repo, &Now, options.key.as_ref())?;
//! assert_eq!(status.waves[1].images[&ServiceName::parse("api")?], new);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod class;
pub mod clock;
mod intent;
pub mod key;
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
mod secret;
pub mod shown;
pub mod slots;
pub mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trailers;
mod wave_write;

pub use class::{Classify, ErrorClass};
pub use clock::{Clock, SystemClock};
pub use key::{StateKey, StateKeyError};
pub use names::{CommitId, Known, NameError, ServiceName, TargetName, WaveName};
pub use path::{RepoPath, RepoPathError};
pub use pipeline::{
    DurationError, ImageSetLayout, Pin, Pipeline, PipelineError, Target, Wave, parse_duration,
};
pub use publish::{
    Announcement, AnnouncementError, PublishError, PublishOutcome, WriteOptions, publish,
    publish_batch,
};
pub use reference::{Digest, ImageRef, Part, ReferenceError};
pub use repository::{ConfigRepository, RepositoryError, RepositoryErrorKind};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use slots::{ImageSet, SlotError};
