//! Rendering targets to Kubernetes YAML, as Argo CD would render them (issue 4).
//!
//! A target's entrypoint is evaluated with jrsonnet ([`evaluate`]), one evaluation state per
//! target, reading files only through [`SourceFiles`] and confined to the repository. Its
//! Kubernetes objects are found by the rule of [`objects`] (Argo CD's directory Jsonnet and
//! Tanka's nesting), and each is written as one deterministic YAML file ([`yaml`]).
//!
//! For automatic commits, [`regenerate`] says which targets a [`Change`](crate::repository::Change)
//! affects and returns their regenerated YAML, and [`check_change`] also refuses a change
//! that alters anything in the rendered objects but container images. [`check_repository`]
//! is `cfgupdate check`. The rules are written out in `docs/rendering.md`.

pub mod batch;
pub mod check;
pub mod diff;
pub mod divergence;
pub mod effect;
pub mod emit;
pub mod evaluate;
pub mod goformat;
pub mod gomath;
pub mod imports;
pub mod job;
pub mod nesting;
pub mod objects;
pub mod regenerate;
pub mod source;
pub mod stdlib_overrides;
pub mod tailstrict;
pub mod target;
pub mod yaml;

pub use batch::{RenderAhead, render_targets};
pub use check::{CheckError, CheckReport, Problem, Warning, check_repository};
pub use diff::ObjectDifference;
pub use effect::{EffectError, NoEffectReason, WrittenImage};
pub use evaluate::{
    DEFAULT_MEMORY, DEFAULT_TIMEOUT, Evaluation, EvaluationError, EvaluationInput, Evaluator,
    IN_PROCESS, InProcess, RenderLimits,
};
pub use job::{EvaluationJob, FileReader, run_job};
pub use objects::{ExtractError, KubeObject};
pub use regenerate::{
    CheckedWrite, RegenerateError, Regeneration, RenderCheckError, check_change, check_wave_write,
    read_pipeline, regenerate,
};
pub use source::{RevisionFiles, SourceError, SourceFiles};
pub use target::{
    OutputError, OutputProblem, RenderError, RenderedTarget, compare_output, output_change,
    render_target,
};
