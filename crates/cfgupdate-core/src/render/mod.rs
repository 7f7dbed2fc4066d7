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
//!
//! Everything here but the depth bound the slot editor shares ([`check_nesting`]) is built with the
//! crate feature `render` (on by default): without it, the Jsonnet evaluator, its standard
//! library and the YAML reader are not built at all.

#[cfg(feature = "render")]
pub(crate) mod batch;
#[cfg(feature = "render")]
pub(crate) mod check;
#[cfg(feature = "render")]
pub(crate) mod diff;
#[cfg(feature = "render")]
pub(crate) mod divergence;
#[cfg(feature = "render")]
pub(crate) mod effect;
#[cfg(feature = "render")]
pub(crate) mod emit;
#[cfg(feature = "render")]
pub(crate) mod evaluate;
#[cfg(feature = "render")]
pub(crate) mod goformat;
#[cfg(feature = "render")]
pub(crate) mod gomath;
#[cfg(feature = "render")]
pub(crate) mod imports;
#[cfg(feature = "render")]
pub(crate) mod job;
pub(crate) mod nesting;
#[cfg(feature = "render")]
pub(crate) mod objects;
#[cfg(feature = "render")]
pub(crate) mod regenerate;
#[cfg(feature = "render")]
pub(crate) mod source;
#[cfg(feature = "render")]
pub(crate) mod stdlib_overrides;
#[cfg(feature = "render")]
pub(crate) mod tailstrict;
#[cfg(feature = "render")]
pub(crate) mod target;
#[cfg(feature = "render")]
pub(crate) mod yaml;

#[cfg(feature = "render")]
pub use batch::{RenderAhead, render_targets};
#[cfg(feature = "render")]
pub use check::{CheckError, CheckReport, Problem, Warning, check_repository};
#[cfg(feature = "render")]
pub use diff::ObjectDifference;
#[cfg(feature = "render")]
pub use divergence::Divergence;
#[cfg(feature = "render")]
pub use effect::{ContainerImage, EffectError, NoEffectReason, SlotPlace, Unused, WrittenImage};
#[cfg(feature = "render")]
pub use emit::document as yaml_document;
#[cfg(feature = "render")]
pub use evaluate::{
    DEFAULT_MEMORY, DEFAULT_TIMEOUT, EVALUATION_STACK, Evaluation, EvaluationError,
    EvaluationInput, Evaluator, IN_PROCESS, InProcess, RenderLimits, evaluate, in_order,
};
#[cfg(feature = "render")]
pub use job::{EvaluationJob, FileReader, run_job};
pub use nesting::{MAX_DEPTH as MAX_NESTING_DEPTH, TooDeep, check as check_nesting};
#[cfg(feature = "render")]
pub use objects::{ExtractError, KubeObject, extract as extract_objects};
#[cfg(feature = "render")]
pub use regenerate::{
    CheckedWrite, RegenerateError, Regeneration, RenderCheckError, check_change, check_wave_write,
    read_pipeline, regenerate,
};
#[cfg(feature = "render")]
pub use source::{RevisionFiles, SourceError, SourceFiles};
#[cfg(feature = "render")]
pub use target::{
    OutputError, OutputProblem, RenderError, RenderedTarget, compare_output, output_change,
    render_target,
};
#[cfg(feature = "render")]
pub use yaml::{YamlError, yaml_files};
