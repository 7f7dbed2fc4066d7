//! Rendering for automatic commits: which targets a change affects, their regenerated YAML, and
//! the render check that an automatic change alters nothing but container images.

use std::collections::{BTreeMap, BTreeSet};

use super::batch::RenderAhead;
use super::diff::{ObjectDifference, non_image_differences};
use super::effect::{
    EffectError, TargetImages, TargetRender, WrittenImage, check_effect, container_images,
};
use super::evaluate::RenderLimits;
use super::imports::ImportGraph;
use super::objects::{KubeObject, extract};
use super::source::{RevisionFiles, SourceError, SourceFiles, is_below};
use super::target::{OutputError, RenderError, RenderedTarget, render_target};
use crate::names::{CommitId, TargetName};
use crate::path::RepoPath;
use crate::pipeline::{PIPELINE_FILE, Pipeline, PipelineError, Target, Wave};
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
    /// Whether the fault lies in the repository's content rather than in reading it: its
    /// class ([`crate::Classify`]) is `Invalid`.
    pub fn is_invalid_input(&self) -> bool {
        crate::class::Classify::class(self) == crate::class::ErrorClass::Invalid
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
/// whose evaluation read or looked for a file the change writes or deletes. Only the targets
/// the static import graph says can read such a file are evaluated, once each, after the change
/// (`docs/rendering.md`, "What a publish evaluates").
///
/// ```
/// use cfgupdate_core::MemoryRepository;
/// use cfgupdate_core::render::{RenderLimits, regenerate};
/// use cfgupdate_core::{Change, ConfigRepository, FileChange};
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
    let plan = Plan::make(repo, revision, change, limits, Scope::default(), None)?;
    Ok(plan.regeneration())
}

/// The render check for an automatic change: compares the affected targets before and after
/// `change` (before: the committed YAML when it differs in images alone, else a render of
/// `revision`) and refuses, listing every differing object path, if anything other than
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
    let scope = Scope {
        compare: true,
        ..Scope::default()
    };
    let plan = Plan::make(repo, revision, change, limits, scope, None)?;
    plan.refuse_non_image_differences()?;
    Ok(plan.regeneration())
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
/// With a `[render]` table: [`check_change`] (the affected targets rendered after the change
/// and compared, YAML regenerated, nothing but images may change), and then the effect check
/// (described in `docs/rendering.md`) on those same renders; the wave's targets are rendered whether the change
/// affects them or not. A target of the wave that does not render refuses
/// the write ([`EffectError::NotRenderable`]); a target of another wave that did not render
/// before the change and does not after is left alone, and the commit message says so.
///
/// Without `[render]`, cfgupdate owns no YAML: only the wave's targets are rendered (after, and
/// the affected ones before), for the effect check alone; the non-image differences are
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
    let scope = Scope {
        only: (!keeps_yaml).then_some(&wave_targets),
        wave: Some(&wave_targets),
        compare: keeps_yaml,
        note_broken: true,
    };
    let plan = match Plan::make(repo, revision, change, limits, scope, Some(pipeline)) {
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
        plan.regeneration()
    } else {
        Regeneration::default()
    };
    Ok(CheckedWrite {
        regeneration,
        notes,
    })
}

/// What a [`Plan`] is made for.
#[derive(Clone, Copy, Default)]
struct Scope<'w> {
    /// Only these targets are considered (without `[render]`: the written wave's).
    only: Option<&'w BTreeSet<TargetName>>,
    /// The written wave's targets: the effect check needs their renders whether or not the
    /// change affects them.
    wave: Option<&'w BTreeSet<TargetName>>,
    /// Whether each affected target's objects before the change are needed (the render check).
    compare: bool,
    /// Whether a target the change cannot affect, and whose output directory is empty, is
    /// rendered to learn whether it renders at all (for the commit message's notes).
    note_broken: bool,
}

/// The renders a change calls for, made one target at a time: each target's render is
/// compared, written into the regeneration and summarised for the effect check, then dropped.
///
/// Which targets are evaluated (`docs/rendering.md`, "What a publish evaluates"): only those
/// the change can affect by the static import graph ([`ImportGraph`]), and the written wave's
/// (the effect check judges them all). Each is evaluated once, after the change. Its state
/// before the change is the YAML committed under `[render].output` when that differs from the
/// render after the change in nothing but container images; otherwise (no `[render]`, files
/// missing or extra, other fields differing) the target is evaluated at the revision too, and
/// that render is compared, as it always was.
struct Plan {
    /// Whether the pipeline after the change has a `[render]` table (cfgupdate owns YAML).
    keeps_yaml: bool,
    /// The targets the change affects that render after it.
    affected: BTreeSet<TargetName>,
    /// The writes and deletions that make the affected targets' output directories current.
    files: BTreeMap<RepoPath, FileChange>,
    /// Every difference beyond container images, per affected target (when comparing).
    differences: Vec<(TargetName, ObjectDifference)>,
    /// The written wave's targets as the effect check sees them.
    images: BTreeMap<TargetName, TargetImages>,
    /// The targets that render neither before nor after the change, with the error after it.
    broken: BTreeMap<TargetName, RenderError>,
}

impl Plan {
    fn make(
        repo: &dyn ConfigRepository,
        revision: &CommitId,
        change: &Change,
        limits: &RenderLimits,
        scope: Scope<'_>,
        after_pipeline: Option<Pipeline>,
    ) -> Result<Self, RegenerateError> {
        let wanted = |name: &TargetName| scope.only.is_none_or(|only| only.contains(name));
        let in_wave = |name: &TargetName| scope.wave.is_some_and(|wave| wave.contains(name));
        let unchanged = BTreeMap::new();
        let before_files = RevisionFiles::new(repo, revision, &unchanged);
        let after_files = RevisionFiles::new(repo, revision, &change.files);
        // The pipeline file is read and parsed once per state, and once in all when the change
        // leaves it alone (its parse grows with the targets).
        let pipeline_written = change
            .files
            .keys()
            .any(|path| path.as_str() == PIPELINE_FILE);
        let at_revision = || format!("at revision {revision}");
        let (before_pipeline, after_pipeline) = match (after_pipeline, pipeline_written) {
            (Some(after), false) => (after.clone(), after),
            (Some(after), true) => (read_pipeline(&before_files, &at_revision())?, after),
            (None, false) => {
                let before = read_pipeline(&before_files, &at_revision())?;
                (before.clone(), before)
            }
            (None, true) => (
                read_pipeline(&before_files, &at_revision())?,
                read_pipeline(&after_files, "after the change")?,
            ),
        };
        let pipeline_changed = before_pipeline != after_pipeline;
        let jpath = before_pipeline
            .render
            .as_ref()
            .map(|render| render.jpath.as_slice())
            .unwrap_or_default();
        let mut graph = ImportGraph::new(&before_files, jpath);
        let touches = |inputs: &BTreeSet<RepoPath>| {
            pipeline_changed || change.files.keys().any(|path| inputs.contains(path))
        };

        let mut plan = Plan {
            keeps_yaml: after_pipeline.render.is_some(),
            affected: BTreeSet::new(),
            files: BTreeMap::new(),
            differences: Vec::new(),
            images: BTreeMap::new(),
            broken: BTreeMap::new(),
        };
        // Which targets are evaluated after the change is known before any is: those
        // evaluations are independent, and run a few at a time on `limits.workers` threads.
        let mut order = Vec::new();
        for (name, target) in after_pipeline.targets.iter().filter(|(n, _)| wanted(n)) {
            let candidate = pipeline_changed
                || before_pipeline.target(name).is_none()
                || graph
                    .reach(&target.entrypoint)
                    .map_err(RegenerateError::Source)?
                    .touches(change.files.keys());
            order.push((name, target, candidate || in_wave(name)));
        }
        let mut afters = RenderAhead::new(
            &after_files,
            &after_pipeline,
            order
                .iter()
                .filter(|(_, _, evaluated)| *evaluated)
                .map(|(_, target, _)| *target),
            limits,
        );
        for (name, target, evaluated) in order.iter().copied() {
            let before_target = before_pipeline.target(name);
            if !evaluated {
                if scope.note_broken {
                    plan.note_if_broken(&after_files, &after_pipeline, target, limits)?;
                }
                continue;
            }
            let after = match afters.render(target) {
                Ok(after) => after,
                Err(error) => {
                    // Whether the change broke it: its render before the change says what it
                    // read then.
                    let before = before_target.map(|before| {
                        render_target(&before_files, &before_pipeline, before, limits)
                    });
                    match before {
                        Some(Ok(before)) if !touches(&before.inputs) => {
                            // Not the change's doing (the same files give the same value): as
                            // if it had not been asked again.
                            if in_wave(name) {
                                plan.images
                                    .insert(name.clone(), TargetImages::of(Some(&before), &before));
                            }
                        }
                        Some(Err(_)) => {
                            plan.broken.insert(name.clone(), error);
                        }
                        Some(Ok(_)) | None => return Err(RegenerateError::Render(error)),
                    }
                    continue;
                }
            };
            if !touches(&after.inputs) && before_target.is_some() {
                // It read none of the changed files: its render before the change is this one.
                if in_wave(name) {
                    plan.images
                        .insert(name.clone(), TargetImages::of(Some(&after), &after));
                }
                continue;
            }
            plan.affected.insert(name.clone());
            let committed = match &after_pipeline.render {
                Some(render) => {
                    let dir = render.output_dir(name);
                    let committed = compare_committed(&after_files, &dir, &after)?;
                    plan.files.extend(committed.changes);
                    // The committed YAML stands for the render before the change only when the
                    // change leaves it alone and the target is the same target.
                    let untouched = !change.files.keys().any(|path| is_below(path, dir.as_str()));
                    committed
                        .before
                        .filter(|_| untouched && !pipeline_changed && before_target.is_some())
                }
                None => None,
            };
            if !scope.compare && !in_wave(name) {
                continue;
            }
            let before_images = match committed {
                Some(replaced) => {
                    // Nothing but images differs from the committed YAML: no difference to
                    // report, and its containers are the ones before the change.
                    let before = after.objects.iter().enumerate().map(|(index, object)| {
                        replaced
                            .iter()
                            .find(|(at, _)| *at == index)
                            .map_or(object, |(_, committed)| committed)
                    });
                    Some(container_images(before))
                }
                None => match before_target
                    .map(|before| render_target(&before_files, &before_pipeline, before, limits))
                {
                    Some(Ok(before)) => {
                        if scope.compare {
                            for difference in non_image_differences(&before.objects, &after.objects)
                            {
                                plan.differences.push((name.clone(), difference));
                            }
                        }
                        Some(container_images(&before.objects))
                    }
                    // Nothing was deployed from it to compare with.
                    Some(Err(_)) | None => None,
                },
            };
            if in_wave(name) {
                plan.images.insert(
                    name.clone(),
                    TargetImages {
                        before: before_images,
                        after: container_images(&after.objects),
                        inputs: after.inputs,
                    },
                );
            }
        }
        Ok(plan)
    }

    /// Renders `target`, which the change cannot affect, when its output directory holds no
    /// file (it has never rendered, or does not): a target that does not render is then
    /// noted, never skipped in silence.
    fn note_if_broken(
        &mut self,
        files: &dyn SourceFiles,
        pipeline: &Pipeline,
        target: &Target,
        limits: &RenderLimits,
    ) -> Result<(), RegenerateError> {
        let Some(render) = &pipeline.render else {
            return Ok(());
        };
        let dir = render.output_dir(&target.name);
        if !files.list(dir.as_str())?.is_empty() {
            return Ok(());
        }
        if let Err(error) = render_target(files, pipeline, target, limits) {
            self.broken.insert(target.name.clone(), error);
        }
        Ok(())
    }

    /// Refuses the change if it alters an affected target's objects beyond container images.
    /// A target that did not render before the change has nothing deployed from this revision
    /// to compare with (and a target the change adds has no before at all).
    fn refuse_non_image_differences(&self) -> Result<(), RenderCheckError> {
        if self.differences.is_empty() {
            Ok(())
        } else {
            Err(RenderCheckError::NotImageOnly {
                differences: self.differences.clone(),
            })
        }
    }

    /// A target as the effect check sees it, or why it does not render.
    fn render_of(&self, name: &TargetName) -> Option<TargetRender<'_>> {
        if let Some(error) = self.broken.get(name) {
            return Some(TargetRender::Broken(error));
        }
        self.images.get(name).map(TargetRender::Rendered)
    }

    fn regeneration(self) -> Regeneration {
        Regeneration {
            affected: self.affected,
            files: if self.keeps_yaml {
                self.files
            } else {
                BTreeMap::new()
            },
        }
    }
}

/// An output directory compared with a render after the change.
struct Committed {
    /// The writes and deletions that make it hold exactly the render.
    changes: BTreeMap<RepoPath, FileChange>,
    /// When the directory differs from the render in container images alone: the committed
    /// objects of the files that differ, by the index of the rendered object they stand for.
    before: Option<Vec<(usize, KubeObject)>>,
}

/// Compares the output directory `dir` in `files` with `rendered`, reading each file once.
fn compare_committed(
    files: &dyn SourceFiles,
    dir: &RepoPath,
    rendered: &RenderedTarget,
) -> Result<Committed, OutputError> {
    let mut changes = BTreeMap::new();
    let mut before = Some(Vec::new());
    let rendered_paths = rendered
        .file_names
        .iter()
        .map(|name| {
            dir.join(name).map_err(|error| RenderError::OutputPath {
                target: rendered.target.clone(),
                reason: error.to_string(),
            })
        })
        .collect::<Result<Vec<RepoPath>, RenderError>>()?;
    let wanted: BTreeSet<&RepoPath> = rendered_paths.iter().collect();
    for existing in files.list(dir.as_str())? {
        if is_below(&existing, dir.as_str()) && !wanted.contains(&existing) {
            changes.insert(existing, FileChange::Delete);
            before = None;
        }
    }
    for (index, (path, name)) in rendered_paths.iter().zip(&rendered.file_names).enumerate() {
        let text = &rendered.files[name];
        let committed = files.read(path)?;
        if committed.as_deref() == Some(text.as_bytes()) {
            continue;
        }
        changes.insert(path.clone(), FileChange::Write(text.clone().into_bytes()));
        let object = &rendered.objects[index];
        let standing = committed
            .as_deref()
            .and_then(|bytes| committed_object(bytes, object));
        match (standing, &mut before) {
            (Some(committed), Some(found)) => found.push((index, committed)),
            _ => before = None,
        }
    }
    Ok(Committed { changes, before })
}

/// The object a committed YAML file holds, when it is `rendered`'s object with at most its
/// container images changed.
fn committed_object(bytes: &[u8], rendered: &KubeObject) -> Option<KubeObject> {
    let text = std::str::from_utf8(bytes).ok()?;
    let value: serde_json::Value = serde_saphyr::from_str(text).ok()?;
    let mut objects = extract(value).ok()?;
    let object = objects.pop().filter(|_| objects.is_empty())?;
    let standing = object.id() == rendered.id()
        && non_image_differences(
            std::slice::from_ref(&object),
            std::slice::from_ref(rendered),
        )
        .is_empty();
    standing.then_some(object)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryRepository;
    use crate::repository::MockConfigRepository;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const PIPELINE: &str = "[render]\noutput = \"generated/{target}\"\n\n[[wave]]\nname = \"staging\"\nimages = { jsonnet = [\"images.libsonnet\"] }\ntargets = [\"staging\"]\n\n[target.staging]\nentrypoint = \"main.jsonnet\"\n";

    /// A repository serving `files`, counting the reads of the pipeline file.
    fn counting_pipeline_reads() -> (MockConfigRepository, CommitId, Arc<AtomicUsize>) {
        let mut memory = MemoryRepository::new(&[
            ("cfgupdate.toml", PIPELINE),
            ("images.libsonnet", "{ api: 'api:1' }\n"),
            (
                "main.jsonnet",
                "local images = import 'images.libsonnet';\n{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api' }, spec: { containers: [{ name: 'api', image: images.api }] } }\n",
            ),
        ]);
        let tip = memory.refresh().unwrap();
        let memory = Arc::new(Mutex::new(memory));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut mock = MockConfigRepository::new();
        let (serving, counted) = (memory.clone(), reads.clone());
        mock.expect_read_file().returning(move |revision, path| {
            if path.as_str() == PIPELINE_FILE {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            serving.lock().unwrap().read_file(revision, path)
        });
        mock.expect_list_files()
            .returning(move |revision, under| memory.lock().unwrap().list_files(revision, under));
        (mock, tip, reads)
    }

    /// The pipeline file's parse grows with the targets: a change that leaves it alone has it
    /// read and parsed once, not once before and once after (issue 12); one that writes it
    /// has both states read.
    #[test]
    fn the_pipeline_file_is_read_once_when_the_change_leaves_it_alone() {
        let mut change = Change::default();
        let images = RepoPath::parse("images.libsonnet").unwrap();
        change
            .files
            .insert(images, FileChange::Write(b"{ api: 'api:2' }\n".to_vec()));
        let (repo, tip, reads) = counting_pipeline_reads();
        let regeneration = regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
        assert_eq!(regeneration.affected.len(), 1);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        check_change(&repo, &tip, &change, &RenderLimits::default()).unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        let pipeline = RepoPath::parse(PIPELINE_FILE).unwrap();
        change.files.insert(
            pipeline,
            FileChange::Write(format!("{PIPELINE}\n").into_bytes()),
        );
        let (repo, tip, reads) = counting_pipeline_reads();
        regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
        // Once at the revision; after the change it comes from the change itself.
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    fn config_map() -> KubeObject {
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}
        });
        extract(value).unwrap().pop().unwrap()
    }

    /// Committed YAML is written by people too: an alias bomb or a nesting far too deep in
    /// it never stands in for the render (and costs neither memory nor the stack), it only
    /// sends the plan to evaluate the parent.
    #[test]
    fn hostile_committed_yaml_never_stands_in_and_costs_little() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=12 {
            let previous = (b'a' + level - 1) as char;
            let name = (b'a' + level) as char;
            bomb.push_str(&format!(
                "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
            ));
        }
        let deep = format!("{}x{}", "[".repeat(200_000), "]".repeat(200_000));
        let rendered = config_map();
        for text in [bomb, deep] {
            assert!(committed_object(text.as_bytes(), &rendered).is_none());
        }
        // The check still recognises the object itself.
        let same = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n";
        assert!(committed_object(same.as_bytes(), &rendered).is_some());
    }
}
