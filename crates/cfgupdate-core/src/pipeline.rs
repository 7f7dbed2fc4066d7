//! The pipeline file, `cfgupdate.toml` at the root of the config repository (docs/config.md).
//!
//! The file is parsed and checked once, by [`Pipeline::parse`]; what comes out can be trusted:
//! there is at least one wave, every wave has targets, every target is in exactly one wave and
//! has its `[target.NAME]` table, no file is in two waves' image sets, and the render output
//! can overwrite nothing but rendered YAML. Every refusal is one sentence that names the file,
//! the line and the key or value at fault.
//!
//! ```
//! use cfgupdate_core::{ImageSetLayout, Pipeline};
//! use cfgupdate_core::WaveName;
//!
//! let pipeline = Pipeline::parse("cfgupdate.toml", r#"
//!     [[wave]]
//!     name = "staging"
//!     images = "images/staging.json"
//!     targets = ["staging"]
//!
//!     [[wave]]
//!     name = "production"
//!     images = { jsonnet = ["envs/prod/**/*.libsonnet"] }
//!     targets = ["prod"]
//!     approval = true
//!
//!     [target.staging]
//!     entrypoint = "envs/staging/main.jsonnet"
//!
//!     [target.prod]
//!     entrypoint = "envs/prod/main.jsonnet"
//! "#).unwrap();
//!
//! let staging = WaveName::parse("staging").unwrap();
//! assert_eq!(pipeline.first_wave().name, staging);
//! assert!(pipeline.next_wave(&staging).unwrap().approval);
//! ```

mod checks;
mod document;
mod duration;
mod freeze_windows;
mod glob;
mod memo;
mod read;
mod schema;
mod strict_table;

pub use duration::{DurationError, parse_duration};
pub(crate) use memo::parse_shared;
pub use schema::schema;
pub use strict_table::StrictConfig;
// The check of a CI result's name: strict mode's result recording, which needs `render`.
#[cfg(feature = "render")]
pub(crate) use strict_table::is_check_name;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use globset::{GlobSet, GlobSetBuilder};

use crate::names::{ServiceName, TargetName, WaveName};
use crate::path::RepoPath;

/// Where the pipeline file lives in the config repository.
pub const PIPELINE_FILE: &str = "cfgupdate.toml";

/// Why a pipeline file was refused. Every message names the file, and the line and key
/// where one is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PipelineError {
    /// The whole sentence, naming file, line and key: `cfgupdate.toml:14: unknown key ...`.
    pub message: String,
    /// The file, as given to [`Pipeline::parse`].
    pub file: String,
    /// The 1-based line at fault, when the fault has one.
    pub line: Option<usize>,
}

impl PipelineError {
    fn new(file: &str, line: Option<usize>, detail: String) -> Self {
        let message = match line {
            Some(line) => format!("{file}:{line}: {detail}"),
            None => format!("{file}: {detail}"),
        };
        Self {
            message,
            file: file.to_owned(),
            line,
        }
    }
}

/// The `[render]` table: committed YAML is regenerated when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderConfig {
    /// The output directory pattern, with `{target}` standing for the target's name.
    pub output: String,
    /// Library search paths, relative to the repository root.
    pub jpath: Vec<RepoPath>,
}

impl RenderConfig {
    /// The directory a target's rendered YAML is written to.
    ///
    /// # Panics
    ///
    /// Only for a `RenderConfig` built by hand whose `output` is not a relative path:
    /// [`Pipeline::parse`] refuses every pattern that could yield one for any target name.
    pub fn output_dir(&self, target: &TargetName) -> RepoPath {
        let dir = self.output.replace("{target}", target.as_str());
        match RepoPath::parse(&dir) {
            Ok(dir) => dir,
            Err(err) => panic!("[render] output was not checked by Pipeline::parse: {err}"),
        }
    }
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

impl ImageSetLayout {
    /// Decides which of the repository's files belong to this image set. In a glob, `*` and
    /// `?` stay within one directory, `**` crosses directories, and `[...]` and `{a,b}` are as
    /// in `globset`.
    pub fn matcher(&self) -> ImageSetMatcher {
        let mut paths = BTreeSet::new();
        let mut globs = GlobSetBuilder::new();
        match self {
            ImageSetLayout::Json(path) => {
                paths.insert(path.to_string());
            }
            ImageSetLayout::TwoFile { tags, digests } => {
                paths.insert(tags.to_string());
                paths.insert(digests.to_string());
            }
            ImageSetLayout::Jsonnet(patterns) => {
                for pattern in patterns {
                    if !glob::is_glob(pattern) {
                        paths.insert(pattern.clone());
                    } else if let Ok(compiled) = glob::compile(pattern) {
                        globs.add(compiled);
                    }
                    // A pattern that does not compile came from a layout built by hand
                    // (`Pipeline::parse` refuses them): it matches nothing.
                }
            }
        }
        ImageSetMatcher {
            paths,
            globs: globs.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }
}

impl ImageSetLayout {
    /// The files named without wildcards (they are read whether or not they exist).
    pub fn plain_paths(&self) -> Vec<RepoPath> {
        match self {
            ImageSetLayout::Json(path) => vec![path.clone()],
            ImageSetLayout::TwoFile { tags, digests } => vec![tags.clone(), digests.clone()],
            ImageSetLayout::Jsonnet(patterns) => patterns
                .iter()
                .filter(|pattern| !glob::is_glob(pattern))
                .filter_map(|pattern| RepoPath::parse(pattern).ok())
                .collect(),
        }
    }

    /// The directories to list to find the files the globs match: for each glob, the
    /// directory before its first wildcard (`""` for the repository root).
    pub fn listing_roots(&self) -> BTreeSet<String> {
        match self {
            ImageSetLayout::Jsonnet(patterns) => patterns
                .iter()
                .filter(|pattern| glob::is_glob(pattern))
                .map(|pattern| glob::literal_dir(pattern))
                .collect(),
            _ => BTreeSet::new(),
        }
    }
}

/// The files of one image set, compiled once to test many paths.
#[derive(Debug, Clone)]
pub struct ImageSetMatcher {
    paths: BTreeSet<String>,
    globs: GlobSet,
}

impl ImageSetMatcher {
    /// Whether `path` belongs to the image set.
    pub fn is_match(&self, path: &RepoPath) -> bool {
        self.paths.contains(path.as_str()) || self.globs.is_match(path.as_str())
    }
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
    /// Whether every service written here must keep its digest (`pin`,
    /// docs/slots.md#pins-are-never-dropped).
    pub pin: Pin,
    /// Its freeze windows (`freeze`): while one holds, nothing automatic writes here.
    pub freeze: Vec<crate::freeze::FreezeWindow>,
}

impl Wave {
    /// Whether the wave is frozen at `at`: until when, and why.
    pub fn frozen_at(&self, at: std::time::SystemTime) -> Option<crate::freeze::Frozen> {
        crate::freeze::frozen_at(&self.freeze, at)
    }
}

/// What a wave requires of its slots' digests: the `pin` key of a `[[wave]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pin {
    /// `pin = "digest"`, the default: a service whose slots together cannot carry the
    /// digest (only a name and a plain tag, say) is an error, since writing it would drop the
    /// pin that every reference cfgupdate writes carries.
    #[default]
    Digest,
    /// `pin = "tag"`: such a service is written by tag, its digest dropped; `status` says so.
    Tag,
}

impl Pin {
    /// The word of the pipeline file: `digest` or `tag`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pin::Digest => "digest",
            Pin::Tag => "tag",
        }
    }
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
    /// The `[strict]` table, if present: automatic commits wait on its branch for CI.
    pub strict: Option<StrictConfig>,
}

impl Pipeline {
    /// Parses and validates the text of a pipeline file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Pipeline, PipelineError> {
        let src = document::Source::new(file, text);
        let root = toml::de::DeTable::parse(text).map_err(|err| src.syntax_error(&err))?;
        let read = read::read_file(src, root.get_ref())?;
        checks::check(src, &read)?;
        Ok(Pipeline {
            render: read.render.map(|render| render.render),
            waves: read.waves.into_iter().map(|wave| wave.wave).collect(),
            targets: read
                .targets
                .into_iter()
                .map(|target| (target.target.name.clone(), target.target))
                .collect(),
            strict: read.strict,
        })
    }

    /// The wave named `name`.
    pub fn wave(&self, name: &WaveName) -> Option<&Wave> {
        self.waves.iter().find(|wave| wave.name == *name)
    }

    /// The wave CI publishes into.
    ///
    /// # Panics
    ///
    /// Only for a `Pipeline` built by hand with no waves: [`Pipeline::parse`] refuses them.
    pub fn first_wave(&self) -> &Wave {
        &self.waves[0]
    }

    /// The wave that `name` promotes into, or `None` for the last wave (or an unknown name).
    pub fn next_wave(&self, name: &WaveName) -> Option<&Wave> {
        let index = self.waves.iter().position(|wave| wave.name == *name)?;
        self.waves.get(index + 1)
    }

    /// The wave that `target` belongs to.
    pub fn wave_of_target(&self, target: &TargetName) -> Option<&Wave> {
        self.waves.iter().find(|wave| wave.targets.contains(target))
    }

    /// The target named `name`.
    pub fn target(&self, name: &TargetName) -> Option<&Target> {
        self.targets.get(name)
    }

    /// The target whose Argo CD Application is `app` (a post-deploy hook may name either).
    pub fn target_by_app(&self, app: &str) -> Option<&Target> {
        self.targets
            .values()
            .find(|target| target.argocd_app == app)
    }

    /// The wave names, in order, with the one nearest to `given`: for an unknown wave's error.
    pub fn known_waves(&self, given: &str) -> crate::names::Known {
        crate::names::Known::new("waves", given, self.waves.iter().map(|wave| &wave.name))
    }

    /// The target names in wave order, with the one nearest to `given`: for an unknown
    /// target's error.
    pub fn known_targets(&self, given: &str) -> crate::names::Known {
        crate::names::Known::new(
            "targets",
            given,
            self.waves.iter().flat_map(|wave| wave.targets.iter()),
        )
    }

    /// The targets' Argo CD applications in wave order, with the one nearest to `given`: for
    /// an unknown application's error.
    pub fn known_apps(&self, given: &str) -> crate::names::Known {
        crate::names::Known::new(
            "Argo CD applications",
            given,
            self.waves
                .iter()
                .flat_map(|wave| wave.targets.iter())
                .filter_map(|name| self.targets.get(name))
                .map(|target| target.argocd_app.as_str()),
        )
    }

    /// Checks that no file of the repository is in two waves' image sets. Parsing compares
    /// paths and globs with each other; two different globs can only be compared against the
    /// files that are actually there, which is what `files` lists.
    pub fn check_image_files<'a>(
        &self,
        files: impl IntoIterator<Item = &'a RepoPath>,
    ) -> Result<(), PipelineError> {
        let matchers: Vec<(&Wave, ImageSetMatcher)> = self
            .waves
            .iter()
            .map(|wave| (wave, wave.images.matcher()))
            .collect();
        for file in files {
            let mut owners = matchers
                .iter()
                .filter(|(_, matcher)| matcher.is_match(file))
                .map(|(wave, _)| wave);
            if let (Some(first), Some(second)) = (owners.next(), owners.next()) {
                return Err(PipelineError::new(
                    PIPELINE_FILE,
                    None,
                    format!(
                        "`{file}` is in the image sets of both [[wave]] \"{}\" and [[wave]] \"{}\"; a file belongs to one wave's image set, or writing one wave would change another",
                        first.name, second.name
                    ),
                ));
            }
        }
        Ok(())
    }
}
