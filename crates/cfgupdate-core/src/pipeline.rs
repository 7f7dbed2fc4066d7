//! The pipeline file, `cfgupdate.toml` at the root of the config repository (contract section 2).
//!
//! STUB: to be replaced by the full implementation (issue 2). The public API below is fixed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::names::{ServiceName, TargetName, WaveName};
use crate::path::RepoPath;

/// Where the pipeline file lives in the config repository.
pub const PIPELINE_FILE: &str = "cfgupdate.toml";

/// Why a pipeline file was refused. Every message names the file, and the line and key
/// where one is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PipelineError {
    /// The whole sentence, naming file, line and key.
    pub message: String,
}

/// The `[render]` table: committed YAML is regenerated when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderConfig {
    /// The output directory pattern, with `{target}` standing for the target's name.
    pub output: String,
    /// Library search paths, relative to the repository root.
    pub jpath: Vec<RepoPath>,
}

/// Where a wave's image set lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSetLayout {
    /// One JSON image file.
    Json(RepoPath),
    /// The original design's two files: `name:tag` and `name@digest` per service.
    TwoFile {
        /// `tags.json`.
        tags: RepoPath,
        /// `digests.json`.
        digests: RepoPath,
    },
    /// Image slots inside Jsonnet files; each entry is a path or a glob (`dir/**/*.jsonnet`).
    Jsonnet(Vec<String>),
}

/// One wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    /// Its name.
    pub name: WaveName,
    /// Where its image set lives.
    pub images: ImageSetLayout,
    /// Its targets, in the order written.
    pub targets: Vec<TargetName>,
    /// The soak gate: how long the source wave must have stayed deployed.
    pub soak: Option<Duration>,
    /// Services that automation must not change in this wave.
    pub hold: Vec<ServiceName>,
    /// Whether promotion into this wave waits for approval.
    pub approval: bool,
}

/// One target: what Argo CD renders for one Application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its name.
    pub name: TargetName,
    /// The Jsonnet file Argo CD renders.
    pub entrypoint: RepoPath,
    /// External variables (strings).
    pub ext_vars: BTreeMap<String, String>,
    /// Top-level arguments (strings).
    pub tlas: BTreeMap<String, String>,
    /// The Argo CD Application's name (default: the target's name).
    pub argocd_app: String,
}

/// A parsed and validated pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// The `[render]` table, if present.
    pub render: Option<RenderConfig>,
    /// The waves, in order.
    pub waves: Vec<Wave>,
    /// Every target, by name.
    pub targets: BTreeMap<TargetName, Target>,
}

impl Pipeline {
    /// Parses and validates the text of a pipeline file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Pipeline, PipelineError> {
        let _ = (file, text);
        todo!()
    }
}
