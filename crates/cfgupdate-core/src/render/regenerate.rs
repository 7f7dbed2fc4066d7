//! Rendering for automatic commits: which targets a change affects, their regenerated YAML, and
//! the render check that an automatic change alters nothing but container images.

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{ObjectDifference, non_image_differences};
use super::effect::{EffectError, TargetRender, WrittenImage, check_effect};
use super::evaluate::RenderLimits;
use super::source::{RevisionFiles, SourceError, SourceFiles};
use super::target::{OutputError, RenderError, RenderedTarget, output_change, render_target};
use crate::names::{CommitId, TargetName};
use crate::path::RepoPath;
use crate::pipeline::{PIPELINE_FILE, Pipeline, PipelineError, Wave};
use crate::repository::{Change, ConfigRepository, FileChange};
use crate::slots::wave::WaveFiles;

/// What a change means for the rendered YAML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Regeneration {
    /// The targets whose inputs the change touches (all of them when it touches the pipeline
    /// file).
    pub affected: BTreeSet<TargetName>,
    /// The writes and deletions that make those targets' output directories current once the
    /// change is applied; empty without a `[render]` table. Add them to the change.
    pub files: BTreeMap<RepoPath, FileChange>,
}

/// Why the change's effect on the rendered YAML could not be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegenerateError {
    /// Reading the repository failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The pipeline file is missing, before or after the change.
    #[error("the config repository has no {PIPELINE_FILE} {when}")]
    NoPipeline {
        /// `at revision ...` or `after the change`.
        when: String,
    },
    /// The pipeline file is invalid.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A target does not render after the change.
    #[error("after the change, {0}")]
    Render(RenderError),
    /// An output directory could not be compared.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl RegenerateError {
    /// Whether the fault lies in the repository's content rather than in reading it.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            RegenerateError::Source(_) => false,
            RegenerateError::Render(error) => error.is_invalid_input(),
            RegenerateError::Output(OutputError::Source(_)) => false,
            _ => true,
        }
    }
}

/// Why the render check refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderCheckError {
    /// The renders could not be made.
    #[error(transparent)]
    Regenerate(#[from] RegenerateError),
    /// The change alters rendered objects beyond container images.
    #[error(
        "the change alters rendered objects beyond container images, so it is not an image update: {}",
        differences.iter().map(|(target, difference)| format!("{difference} (target {target})")).collect::<Vec<_>>().join("; ")
    )]
    NotImageOnly {
        /// Each target and difference.
        differences: Vec<(TargetName, ObjectDifference)>,
    },
    /// The write would not reach the wave's rendered containers (the effect check).
    #[error(transparent)]
    NoEffect(Box<EffectError>),
}

impl From<Box<EffectError>> for RenderCheckError {
    fn from(error: Box<EffectError>) -> Self {
        RenderCheckError::NoEffect(error)
    }
}

/// The regenerated YAML for `change` applied on `revision`: the affected targets are those
/// whose evaluation at `revision` read or looked for a file the change writes or deletes.
///
/// ```
/// use cfgupdate_core::memory::MemoryRepository;
/// use cfgupdate_core::render::{RenderLimits, regenerate};
/// use cfgupdate_core::repository::{Change, ConfigRepository, FileChange};
/// use cfgupdate_core::RepoPath;
///
/// let mut repo = MemoryRepository::new(&[
///     ("cfgupdate.toml", "[render]\noutput = \"generated/{target}\"\n\n[[wave]]\nname = \"staging\"\nimages = { jsonnet = [\"images.libsonnet\"] }\ntargets = [\"staging\"]\n\n[target.staging]\nentrypoint = \"main.jsonnet\"\n"),
///     ("images.libsonnet", "{ api: 'api:1' }\n"),
///     ("main.jsonnet", "local images = import 'images.libsonnet';\n{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api' }, spec: { containers: [{ name: 'api', image: images.api }] } }\n"),
/// ]);
/// let tip = repo.refresh().unwrap();
/// let mut change = Change::default();
/// let path = RepoPath::parse("images.libsonnet").unwrap();
/// change.files.insert(path, FileChange::Write(b"{ api: 'api:2' }\n".to_vec()));
///
/// let regeneration = regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
/// assert_eq!(regeneration.affected.len(), 1);
/// let yaml = RepoPath::parse("generated/staging/pod-api.yaml").unwrap();
/// assert!(matches!(&regeneration.files[&yaml], FileChange::Write(text) if String::from_utf8_lossy(text).contains("image: api:2")));
/// ```
pub fn regenerate(
    repo: &dyn ConfigRepository,
    revision: &CommitId,
    change: &Change,
    limits: &RenderLimits,
) -> Result<Regeneration, RegenerateError> {
    let plan = Plan::make(repo, revision, change, limits, None)?;
    plan.regeneration(repo, revision, change)
}

/// The render check for an automatic change: renders the affected targets before and after
/// `change` and refuses, listing every differing object path, if anything other than
/// container and init-container `image` fields differs. A target that does not render before
/// the change is not compared (nothing is deployed from it to compare with); if it does not
/// render after the change either, it is left alone, since the change did not break it; a target
/// that rendered before and does not after is an error. On success, returns the same
/// [`Regeneration`] as [`regenerate`], so one call does both.
pub fn check_change(
    repo: &dyn ConfigRepository,
    revision: &CommitId,
    change: &Change,
    limits: &RenderLimits,
) -> Result<Regeneration, RenderCheckError> {
    let plan = Plan::make(repo, revision, change, limits, None)?;
    plan.refuse_non_image_differences()?;
    Ok(plan.regeneration(repo, revision, change)?)
}

/// A wave write that passed the render check and the effect check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckedWrite {
    /// The regenerated YAML, as [`check_change`] returns it (empty without `[render]`).
    pub regeneration: Regeneration,
    /// What the commit message should say about targets that were not rendered.
    pub notes: Vec<String>,
}

/// The checks of an automatic write of `written` into `wave` (`change` on `revision`, the
/// wave's files after it in `wave_files`).
///
/// With a `[render]` table: [`check_change`] (every target rendered before, the affected ones
/// after, YAML regenerated, nothing but images may change), and then the effect check
/// ([`check_effect`]) on those same renders: the wave's targets that the change does not
/// affect keep their render from before. A target of the wave that does not render refuses
/// the write ([`EffectError::NotRenderable`]); a target of another wave that did not render
/// before the change and does not after is left alone, and the commit message says so.
///
/// Without `[render]`, cfgupdate owns no YAML: only the wave's targets are rendered (before,
/// and the affected ones after), for the effect check alone; the non-image differences are
/// not judged. When the repository holds none of the wave's targets' entrypoints, the wave's
/// objects are rendered somewhere else: nothing is rendered, and the commit message says that
/// the write was not checked against rendered containers.
pub fn check_wave_write(
    repo: &dyn ConfigRepository,
    revision: &CommitId,
    change: &Change,
    limits: &RenderLimits,
    wave: &Wave,
    written: &[WrittenImage],
    wave_files: &WaveFiles,
) -> Result<CheckedWrite, RenderCheckError> {
    let after_files = RevisionFiles::new(repo, revision, &change.files);
    let pipeline = read_pipeline(&after_files, "after the change")?;
    let keeps_yaml = pipeline.render.is_some();
    let wave_targets: BTreeSet<TargetName> = wave.targets.iter().cloned().collect();
    let mut notes = Vec::new();
    if !keeps_yaml {
        let mut any_entrypoint = false;
        for name in &wave_targets {
            if let Some(target) = pipeline.target(name) {
                any_entrypoint |= after_files
                    .read(&target.entrypoint)
                    .map_err(RegenerateError::Source)?
                    .is_some();
            }
        }
        if !any_entrypoint {
            notes.push(format!(
                "Not checked against rendered containers: the repository holds none of the entrypoints of wave {}'s targets.",
                wave.name
            ));
            return Ok(CheckedWrite {
                regeneration: Regeneration::default(),
                notes,
            });
        }
    }
    let only = (!keeps_yaml).then_some(&wave_targets);
    let plan = match Plan::make(repo, revision, change, limits, only) {
        // A target of the wave that the change breaks is the effect check's to report.
        Err(RegenerateError::Render(error)) if wave_targets.contains(error.target()) => {
            return Err(RenderCheckError::NoEffect(Box::new(
                EffectError::NotRenderable {
                    wave: wave.name.clone(),
                    target: error.target().clone(),
                    error: Box::new(error),
                },
            )));
        }
        plan => plan?,
    };
    if keeps_yaml {
        plan.refuse_non_image_differences()?;
    }
    let renders: Vec<(TargetName, TargetRender<'_>)> = wave
        .targets
        .iter()
        .filter_map(|name| plan.render_of(name).map(|render| (name.clone(), render)))
        .collect();
    check_effect(wave, written, &renders, wave_files)?;
    for (name, error) in &plan.broken {
        if !wave_targets.contains(name) {
            notes.push(format!(
                "Not rendered: target {name} renders neither before nor after this change ({error})."
            ));
        }
    }
    let regeneration = if keeps_yaml {
        plan.regeneration(repo, revision, change)?
    } else {
        Regeneration::default()
    };
    Ok(CheckedWrite {
        regeneration,
        notes,
    })
}

/// The renders a change calls for.
struct Plan {
    after_pipeline: Pipeline,
    /// Every target (of those asked for) that rendered before the change.
    before: BTreeMap<TargetName, RenderedTarget>,
    /// The targets the change affects.
    affected: BTreeSet<TargetName>,
    /// The affected targets' renders after the change.
    after: BTreeMap<TargetName, RenderedTarget>,
    /// The targets that render neither before nor after the change, with the error after it.
    broken: BTreeMap<TargetName, RenderError>,
}

impl Plan {
    fn make(
        repo: &dyn ConfigRepository,
        revision: &CommitId,
        change: &Change,
        limits: &RenderLimits,
        only: Option<&BTreeSet<TargetName>>,
    ) -> Result<Self, RegenerateError> {
        let wanted = |name: &TargetName| only.is_none_or(|only| only.contains(name));
        let unchanged = BTreeMap::new();
        let before_files = RevisionFiles::new(repo, revision, &unchanged);
        let after_files = RevisionFiles::new(repo, revision, &change.files);
        let before_pipeline = read_pipeline(&before_files, &format!("at revision {revision}"))?;
        let after_pipeline = read_pipeline(&after_files, "after the change")?;
        let pipeline_changed = before_pipeline != after_pipeline;

        let mut before = BTreeMap::new();
        let mut affected = BTreeSet::new();
        let mut broken_before = BTreeSet::new();
        for (name, target) in before_pipeline.targets.iter().filter(|(n, _)| wanted(n)) {
            match render_target(&before_files, &before_pipeline, target, limits) {
                Ok(rendered) => {
                    if pipeline_changed
                        || rendered
                            .inputs
                            .iter()
                            .any(|input| change.files.contains_key(input))
                    {
                        affected.insert(name.clone());
                    }
                    before.insert(name.clone(), rendered);
                }
                // Its inputs are unknown: only rendering it after the change can tell.
                Err(_) => {
                    affected.insert(name.clone());
                    broken_before.insert(name.clone());
                }
            }
        }
        // A target the change adds has no render before it.
        affected.extend(
            after_pipeline
                .targets
                .keys()
                .filter(|name| !before_pipeline.targets.contains_key(*name) && wanted(name))
                .cloned(),
        );

        let mut after = BTreeMap::new();
        let mut broken = BTreeMap::new();
        for name in &affected {
            if let Some(target) = after_pipeline.target(name) {
                match render_target(&after_files, &after_pipeline, target, limits) {
                    Ok(rendered) => {
                        after.insert(name.clone(), rendered);
                    }
                    // Broken before the change and after it: not the change's doing, and
                    // nothing to regenerate (`cfgupdate check` reports it).
                    Err(error) if broken_before.contains(name) => {
                        broken.insert(name.clone(), error);
                    }
                    Err(error) => return Err(RegenerateError::Render(error)),
                }
            }
        }
        Ok(Self {
            after_pipeline,
            before,
            affected,
            after,
            broken,
        })
    }

    /// Refuses the change if it alters an affected target's objects beyond container images.
    /// A target that did not render before the change has nothing deployed from this revision
    /// to compare with (and a target the change adds has no before at all).
    fn refuse_non_image_differences(&self) -> Result<(), RenderCheckError> {
        let mut differences = Vec::new();
        for (name, after) in &self.after {
            let Some(before) = self.before.get(name) else {
                continue;
            };
            for difference in non_image_differences(&before.objects, &after.objects) {
                differences.push((name.clone(), difference));
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(RenderCheckError::NotImageOnly { differences })
        }
    }

    /// A target as the effect check sees it: its render after the change (the one from before
    /// when the change does not affect it), or why it does not render.
    fn render_of(&self, name: &TargetName) -> Option<TargetRender<'_>> {
        if let Some(error) = self.broken.get(name) {
            return Some(TargetRender::Broken(error));
        }
        let before = self.before.get(name);
        let after = if self.affected.contains(name) {
            self.after.get(name)?
        } else {
            before?
        };
        Some(TargetRender::Rendered { before, after })
    }

    fn regeneration(
        &self,
        repo: &dyn ConfigRepository,
        revision: &CommitId,
        change: &Change,
    ) -> Result<Regeneration, RegenerateError> {
        let after_files = RevisionFiles::new(repo, revision, &change.files);
        let mut files = BTreeMap::new();
        if let Some(render) = &self.after_pipeline.render {
            for (name, rendered) in &self.after {
                let dir = render.output_dir(name);
                files.extend(output_change(&after_files, &dir, rendered)?);
            }
        }
        Ok(Regeneration {
            affected: self
                .before
                .keys()
                .filter(|name| self.affected.contains(*name))
                .chain(self.after.keys())
                .cloned()
                .collect(),
            files,
        })
    }
}

/// The pipeline file as `files` hold it; `when` says which state that is, for errors.
pub fn read_pipeline(files: &dyn SourceFiles, when: &str) -> Result<Pipeline, RegenerateError> {
    let path = RepoPath::parse(PIPELINE_FILE).map_err(|_| RegenerateError::NoPipeline {
        when: when.to_owned(),
    })?;
    let bytes = files
        .read(&path)?
        .ok_or_else(|| RegenerateError::NoPipeline {
            when: when.to_owned(),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| SourceError::Unreadable {
        path: PIPELINE_FILE.to_owned(),
        reason: "it is not UTF-8 text".into(),
    })?;
    Ok(Pipeline::parse(PIPELINE_FILE, &text)?)
}
