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
//! [`MemoryRepository`] implements it in memory for tests and simulations.
//!
//! # Features
//!
//! `render` (on by default): rendering targets with the Jsonnet evaluator, and [`publish()`]
//! and [`promotion`], whose every write passes the render and effect checks. Without it
//! (`default-features = false`) the crate is the pipeline's types, `cfgupdate.toml`, slot
//! editing and the repository traits, and builds neither the evaluator, its standard library
//! nor the YAML reader.
//!
//! # The API at a glance
//!
//! Everything is re-exported here or lives in one of four public modules; the modules behind
//! them are private and may change freely (`docs/ARCHITECTURE.md`, "API boundaries").
//!
//! - **The pipeline's words**, parsed once at the edge: [`ServiceName`], [`WaveName`],
//!   [`TargetName`], [`CommitId`], [`RepoPath`], [`ImageRef`] (with its [`Digest`] and
//!   [`Part`]s), [`ImageSet`]; their errors ([`NameError`], [`ReferenceError`], ...) and
//!   [`Known`] (the valid names and the nearest, for "did you mean").
//! - **The pipeline file**: [`Pipeline::parse`] reads `cfgupdate.toml` ([`PIPELINE_FILE`])
//!   into [`Wave`]s and [`Target`]s; [`pipeline_schema`] is its JSON Schema.
//! - **The ports** the core sees the world through: [`ConfigRepository`] (with [`Change`],
//!   [`PushOutcome`], [`CommitInfo`], [`StateVersion`], [`RepositoryError`]) and [`Clock`].
//!   [`MemoryRepository`] is an in-memory repository whose remote moves; [`Snapshot`] is
//!   the repository at one revision with its pipeline parsed.
//! - **Writing**: [`publish`] / [`publish_batch`] (CI's announcements into the first wave),
//!   configured by [`WriteOptions`] ([`RetryPolicy`], render limits, the [`StateKey`]).
//! - [`promotion`]: deploy reports, approvals, promote/advance, and reading the pipeline's
//!   [`promotion::status`] and [`promotion::history`].
//! - [`slots`]: image slots edited in a file's text, losslessly ([`slots::jsonnet`],
//!   [`slots::json`], a wave's files as one image set).
//! - [`render`]: targets rendered to Kubernetes YAML as Argo CD would, and the checks an
//!   automatic change passes.
//! - [`trailers`]: the `Cfgupdate-*` commit trailers written and read back.
//! - **Dry runs**: [`dry_run()`] runs any writing operation against a [`DryRun`], which
//!   captures its pushes as [`PlannedWrite`]s instead of sending them.
//! - [`freeze`]: a wave's freeze windows, and whether it is frozen at an instant.
//! - [`strict`]: strict mode, where automatic commits wait on an auto branch until the config
//!   repository's CI passed them ([`strict::Strict`]).
//! - **Failures**: every error type implements [`Classify`], whose [`ErrorClass`] decides exit
//!   codes and HTTP statuses in the adapters.
//!
//! # Editing a slot in a string
//!
//! ```
//! use cfgupdate_core::slots::jsonnet;
//! use cfgupdate_core::{ImageRef, ImageSet, ServiceName};
//!
//! let old = format!("reg.example.com/api:v1@sha256:{}", "1".repeat(64));
//! let new = format!("reg.example.com/api:v2@sha256:{}", "2".repeat(64));
//! let text = format!("{{\n  api: '{old}',  // kept as it is\n}}\n");
//! let updates = ImageSet::from([(ServiceName::parse("api")?, ImageRef::parse(&new)?)]);
//! let applied = jsonnet::apply("images.libsonnet", &text, &updates)?;
//! assert_eq!(applied.text, format!("{{\n  api: '{new}',  // kept as it is\n}}\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Publishing to the in-memory repository
//!
//! ```
//! # #[cfg(feature = "render")] {
//! use std::time::{Duration, SystemTime};
//! use cfgupdate_core::{
//!     Announcement, Clock, CommitId, ImageRef, ImageSet, MemoryRepository, PublishOutcome,
//!     ServiceName, WriteOptions, publish,
//! };
//!
//! struct Fixed;
//! impl Clock for Fixed {
//!     fn now(&self) -> SystemTime { SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) }
//!     fn sleep(&self, _: Duration) {}
//! }
//!
//! let old = format!("reg.example.com/api:v1@sha256:{}", "1".repeat(64));
//! let new = format!("reg.example.com/api:v2@sha256:{}", "2".repeat(64));
//! let mut repo = MemoryRepository::new(&[
//!     ("cfgupdate.toml", "[[wave]]\nname = \"staging\"\nimages = \"images.json\"\ntargets = [\"staging\"]\n\n[target.staging]\nentrypoint = \"staging.jsonnet\"\n"),
//!     ("images.json", &format!("{{ \"api\": \"{old}\" }}\n")),
//!     ("staging.jsonnet", "{ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'api' }, spec: { containers: [{ name: 'api', image: (import 'images.json').api }] } }\n"),
//! ]);
//! let images = ImageSet::from([(ServiceName::parse("api")?, ImageRef::parse(&new)?)]);
//! let announcement = Announcement::new(CommitId::parse(&"a".repeat(40))?, images)?;
//! let outcome = publish(&mut repo, &Fixed, &announcement, &WriteOptions::default())?;
//! assert!(matches!(outcome, PublishOutcome::Committed { .. }));
//! assert_eq!(repo.remote_text("images.json"), Some(format!("{{ \"api\": \"{new}\" }}\n")));
//! // The same announcement again changes nothing.
//! let again = publish(&mut repo, &Fixed, &announcement, &WriteOptions::default())?;
//! assert_eq!(again, PublishOutcome::Unchanged);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Reading a pipeline's status, and a whole promotion
//!
//! Drive a whole promotion with any `ConfigRepository` and `Clock`, then read the status:
//!
//! ```
//! # #[cfg(feature = "render")] {
//! use std::time::{Duration, SystemTime};
//! use cfgupdate_core::MemoryRepository;
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
//! let step = status.waves[0].promotion.as_ref().expect("staging promotes into production");
//! assert_eq!(step.state, promotion::StepState::Idle);
//! assert_eq!(status.waves[0].targets[0].last_report.as_ref().map(|r| r.status), Some(DeployStatus::Succeeded));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![warn(unnameable_types)]

mod class;
mod clock;
mod dry_run;
#[cfg(feature = "render")]
mod due;
pub mod freeze;
#[cfg(feature = "render")]
mod intent;
mod key;
mod memory;
mod names;
mod path;
mod pipeline;
#[cfg(feature = "render")]
pub mod promotion;
#[cfg(feature = "render")]
mod publish;
mod reference;
pub mod render;
mod repository;
mod retry;
mod secret;
mod shown;
pub mod slots;
mod snapshot;
#[cfg(feature = "render")]
pub mod strict;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trailers;
#[cfg(feature = "render")]
mod wave_write;

// The pipeline's words, parsed once at the edge.
pub use names::{CommitId, Known, NameError, ServiceName, TargetName, WaveName};
pub use path::{RepoPath, RepoPathError};
pub use reference::{Digest, ImageRef, JoinError, NAME_MAX_LEN, Part, ReferenceError, TAG_MAX_LEN};
pub use slots::{ImageSet, SlotError};

// The pipeline file.
pub use pipeline::StrictConfig;
pub use pipeline::{
    DurationError, ImageSetLayout, ImageSetMatcher, PIPELINE_FILE, Pin, Pipeline, PipelineError,
    RenderConfig, Target, Wave, parse_duration, schema as pipeline_schema,
};

// The ports: the repository and the clock, and an in-memory repository.
pub use clock::{Clock, SystemClock};
pub use memory::{MemoryRepository, Tree};
pub use repository::{
    Change, CommitInfo, CommitMessage, ConfigRepository, FileChange, PairOutcome, PushOutcome,
    RepositoryError, RepositoryErrorKind, StateVersion, state_then_fast_forward,
};
pub use snapshot::{Snapshot, SnapshotError};

// Dry runs: any writing operation against a repository that captures its pushes.
pub use dry_run::{DryRun, PlannedCommit, PlannedFile, PlannedState, PlannedWrite, dry_run};

// Writing: CI's announcements, and how every automatic write behaves.
#[cfg(feature = "render")]
pub use due::{Due, run_due};
#[cfg(feature = "render")]
pub use intent::WriteOptions;
pub use key::{MIN_STATE_KEY_LEN, StateKey, StateKeyError};
#[cfg(feature = "render")]
pub use publish::{
    Announcement, AnnouncementError, PublishError, PublishOutcome, publish, publish_batch,
};
#[cfg(feature = "render")]
pub use publish::{DeferredRun, publish_deferred};
pub use retry::RetryPolicy;
pub use secret::Secret;

// Failures, classified once for every adapter.
pub use class::{Classify, ErrorClass};

/// How the adapters show a value from outside in a message: the core's own rule (control and
/// invisible characters escaped, long values cut), so that a message reads the same whichever
/// crate writes it. A seam between the core and cfgupdate's own adapters, not part of the
/// embedding API: it may change without notice.
#[doc(hidden)]
pub mod adapter {
    pub use crate::shown::{is_hidden, push_escaped, shown};
}
