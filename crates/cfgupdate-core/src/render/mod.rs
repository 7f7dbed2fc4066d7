//! Rendering targets to Kubernetes YAML, as Argo CD would render them (issue 4).
//!
//! A target's entrypoint is evaluated with jrsonnet ([`evaluate`]), one evaluation state per
//! target, reading files only through [`SourceFiles`] and confined to the repository. Its
//! Kubernetes objects are found by the rule of [`extract_objects`] (Argo CD's directory Jsonnet and
//! Tanka's nesting), and each is written as one deterministic YAML file ([`yaml_files`]).
//!
//! For automatic commits, [`regenerate`] says which targets a [`Change`](crate::repository::Change)
//! affects and returns their regenerated YAML, and [`check_change`] also refuses a change
//! that alters anything in the rendered objects but container images. [`check_repository`]
//! is `cfgupdate check`. The rules are written out in `docs/rendering.md`.

pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod divergence;
pub(crate) mod effect;
pub(crate) mod emit;
pub(crate) mod evaluate;
pub(crate) mod goformat;
pub(crate) mod gomath;
pub(crate) mod imports;
pub(crate) mod job;
pub(crate) mod nesting;
pub(crate) mod objects;
pub(crate) mod regenerate;
pub(crate) mod source;
pub(crate) mod stdlib_overrides;
pub(crate) mod tailstrict;
pub(crate) mod target;
pub(crate) mod yaml;

pub use check::{CheckError, CheckReport, Problem, Warning, check_repository};
pub use diff::ObjectDifference;
pub use divergence::Divergence;
pub use effect::{ContainerImage, EffectError, NoEffectReason, SlotPlace, Unused, WrittenImage};
pub use emit::document as yaml_document;
pub use evaluate::{
    DEFAULT_MEMORY, DEFAULT_TIMEOUT, EVALUATION_STACK, Evaluation, EvaluationError,
    EvaluationInput, Evaluator, IN_PROCESS, InProcess, RenderLimits, evaluate,
};
pub use job::{EvaluationJob, FileReader, run_job};
pub use nesting::{MAX_DEPTH as MAX_NESTING_DEPTH, TooDeep, check as check_nesting};
pub use objects::{ExtractError, KubeObject, extract as extract_objects};
pub use regenerate::{
    CheckedWrite, RegenerateError, Regeneration, RenderCheckError, check_change, check_wave_write,
    read_pipeline, regenerate,
};
pub use source::{RevisionFiles, SourceError, SourceFiles};
pub use target::{OutputError, OutputProblem, RenderError, RenderedTarget, render_target};
pub use yaml::{YamlError, yaml_files};
