//! One target rendered: evaluated, its objects extracted, written as YAML files; and how its
//! output directory compares with that.

use std::collections::{BTreeMap, BTreeSet};

use super::evaluate::{Evaluation, EvaluationError, EvaluationInput, RenderLimits, evaluate};
use super::objects::{ExtractError, KubeObject, extract};
use super::source::{SourceError, SourceFiles, is_below};
use super::yaml::{YamlError, yaml_files};
use crate::names::TargetName;
use crate::path::RepoPath;
use crate::pipeline::{Pipeline, Target};
use crate::repository::FileChange;

/// A target's render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedTarget {
    /// The target.
    pub target: TargetName,
    /// Its Kubernetes objects, in the order they were found.
    pub objects: Vec<KubeObject>,
    /// The YAML file names of the objects, in the same order.
    pub file_names: Vec<String>,
    /// The YAML of each object, by file name.
    pub files: BTreeMap<String, String>,
    /// Every repository path the evaluation read or looked for.
    pub inputs: BTreeSet<RepoPath>,
}

impl RenderedTarget {
    /// The objects as one YAML stream: each document starts with `---`, in extraction order.
    pub fn stream(&self) -> String {
        let mut out = String::new();
        for name in &self.file_names {
            out.push_str("---\n");
            out.push_str(&self.files[name]);
        }
        out
    }

    /// The files of the output directory `dir`, by path.
    pub fn output_files(&self, dir: &RepoPath) -> Result<BTreeMap<RepoPath, String>, RenderError> {
        self.files
            .iter()
            .map(|(name, text)| {
                let path = dir.join(name).map_err(|error| RenderError::OutputPath {
                    target: self.target.clone(),
                    reason: error.to_string(),
                })?;
                Ok((path, text.clone()))
            })
            .collect()
    }
}

/// Why a target could not be rendered. Every message names the target, and the file and line
/// where Jsonnet gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The evaluation failed.
    #[error("target `{target}`: {source}")]
    Evaluation {
        /// The target.
        target: TargetName,
        /// Why.
        source: EvaluationError,
    },
    /// The value holds something that is not a Kubernetes object.
    #[error("target `{target}`: {entrypoint}: {source}")]
    Extract {
        /// The target.
        target: TargetName,
        /// Its entrypoint.
        entrypoint: RepoPath,
        /// Why.
        source: ExtractError,
    },
    /// An object could not be written as YAML.
    #[error("target `{target}`: {source}")]
    Yaml {
        /// The target.
        target: TargetName,
        /// Why.
        source: YamlError,
    },
    /// A file name did not make a repository path.
    #[error("target `{target}`: an output file name is not a repository path: {reason}")]
    OutputPath {
        /// The target.
        target: TargetName,
        /// Why.
        reason: String,
    },
}

impl RenderError {
    /// The target at fault.
    pub fn target(&self) -> &TargetName {
        match self {
            RenderError::Evaluation { target, .. }
            | RenderError::Extract { target, .. }
            | RenderError::Yaml { target, .. }
            | RenderError::OutputPath { target, .. } => target,
        }
    }

    /// Whether the fault is in the repository's files (Jsonnet, objects) rather than in
    /// reading them or in the evaluator: its class ([`crate::Classify`]) is `Invalid`.
    pub fn is_invalid_input(&self) -> bool {
        crate::class::Classify::class(self) == crate::class::ErrorClass::Invalid
    }
}

/// Renders `target` of `pipeline` (docs/config.md: its entrypoint, `[render].jpath`,
/// `ext_vars` and `tlas`) with one evaluation state of its own.
pub fn render_target(
    files: &dyn SourceFiles,
    pipeline: &Pipeline,
    target: &Target,
    limits: &RenderLimits,
) -> Result<RenderedTarget, RenderError> {
    let input = evaluation_input(pipeline, target);
    finish_render(target, evaluate(files, input, limits))
}

/// What [`render_target`] evaluates for `target` of `pipeline`.
pub(crate) fn evaluation_input<'a>(
    pipeline: &'a Pipeline,
    target: &'a Target,
) -> EvaluationInput<'a> {
    EvaluationInput {
        entrypoint: &target.entrypoint,
        jpath: pipeline
            .render
            .as_ref()
            .map(|render| render.jpath.as_slice())
            .unwrap_or_default(),
        ext_vars: &target.ext_vars,
        tlas: &target.tlas,
    }
}

/// `target`'s render from its evaluation: its objects found and written as YAML.
pub(crate) fn finish_render(
    target: &Target,
    evaluation: Result<Evaluation, EvaluationError>,
) -> Result<RenderedTarget, RenderError> {
    let evaluation = evaluation.map_err(|source| RenderError::Evaluation {
        target: target.name.clone(),
        source,
    })?;
    let objects = extract(evaluation.value).map_err(|source| RenderError::Extract {
        target: target.name.clone(),
        entrypoint: target.entrypoint.clone(),
        source,
    })?;
    let file_names = super::yaml::file_names(&objects);
    let files = yaml_files(&objects).map_err(|source| RenderError::Yaml {
        target: target.name.clone(),
        source,
    })?;
    Ok(RenderedTarget {
        target: target.name.clone(),
        objects,
        file_names,
        files,
        inputs: evaluation.inputs,
    })
}

/// What is wrong with one file of an output directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutputProblem {
    /// A rendered file is not there.
    Missing(RepoPath),
    /// A file is there with other content than the render.
    Stale(RepoPath),
    /// A file is there that the render does not produce.
    Extra(RepoPath),
}

impl std::fmt::Display for OutputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputProblem::Missing(path) => write!(f, "{path} is missing"),
            OutputProblem::Stale(path) => write!(f, "{path} is stale"),
            OutputProblem::Extra(path) => write!(f, "{path} is not rendered by its target"),
        }
    }
}

/// The writes and deletions that make the output directory `dir` hold exactly `rendered`'s
/// files: files whose content differs are written, files the render does not produce are
/// removed, and files already current are left out.
pub fn output_change(
    files: &dyn SourceFiles,
    dir: &RepoPath,
    rendered: &RenderedTarget,
) -> Result<BTreeMap<RepoPath, FileChange>, OutputError> {
    let wanted = rendered.output_files(dir)?;
    let mut change = BTreeMap::new();
    for existing in files.list(dir.as_str())? {
        if is_below(&existing, dir.as_str()) && !wanted.contains_key(&existing) {
            change.insert(existing, FileChange::Delete);
        }
    }
    for (path, text) in wanted {
        if files.read(&path)?.as_deref() != Some(text.as_bytes()) {
            change.insert(path, FileChange::Write(text.into_bytes()));
        }
    }
    Ok(change)
}

/// How the output directory `dir` differs from `rendered`, file by file, sorted by path.
pub fn compare_output(
    files: &dyn SourceFiles,
    dir: &RepoPath,
    rendered: &RenderedTarget,
) -> Result<Vec<OutputProblem>, OutputError> {
    let mut problems = Vec::new();
    for (path, change) in output_change(files, dir, rendered)? {
        let problem = match change {
            FileChange::Delete => OutputProblem::Extra(path),
            FileChange::Write(_) if files.read(&path)?.is_some() => OutputProblem::Stale(path),
            FileChange::Write(_) => OutputProblem::Missing(path),
        };
        problems.push(problem);
    }
    problems.sort_by(|a, b| problem_path(a).cmp(problem_path(b)));
    Ok(problems)
}

fn problem_path(problem: &OutputProblem) -> &RepoPath {
    match problem {
        OutputProblem::Missing(path) | OutputProblem::Stale(path) | OutputProblem::Extra(path) => {
            path
        }
    }
}

/// Why an output directory could not be compared with a render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// Reading the directory failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file name did not make a path.
    #[error(transparent)]
    Render(#[from] RenderError),
}
