//! One evaluation of a target's entrypoint, behind a port: [`Evaluator`] says where it runs
//! and how it is stopped; [`RenderLimits`] says how deep, how long and how large it may get.
//!
//! The core does no IO, so the evaluator that isolates an evaluation in a child process with
//! a memory limit, and kills it at the time limit, lives in the binary; the core has
//! [`InProcess`], for library users and tests. Both run [`run_job`](super::job::run_job)
//! and both serve its file reads from a [`SourceFiles`] on the calling thread, recording every
//! path read or looked for.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::job::{EvaluationJob, FileReader, run_job};
use super::source::{SourceError, SourceFiles};
use crate::path::RepoPath;

/// The stack an evaluation runs on. Files deeper than [`super::nesting::MAX_DEPTH`] are
/// refused before they are parsed, and at that depth the parsers and a debug build's
/// evaluator need well under this (`docs/rendering.md` has the figures); the evaluator grows
/// its stack on the heap for calls nested deeper than this one holds. Only the pages touched
/// are committed.
pub const EVALUATION_STACK: usize = 512 << 20;

/// Where an evaluation runs, and how it is stopped at its limits.
///
/// An implementation evaluates `input` with files read from `files` on the calling thread
/// (`SourceFiles` need not be `Send`), records every path read or looked for in
/// [`Evaluation::inputs`], and returns within about `limits.timeout`.
pub trait Evaluator: Send + Sync {
    /// Evaluates `input`.
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError>;

    /// A short name for messages and `Debug` ("in-process", "child process").
    fn name(&self) -> &'static str;
}

/// Evaluation on a thread of the calling process, with a large stack and the depth limits.
///
/// The time limit is enforced by giving up: jrsonnet cannot be interrupted from outside, so
/// the evaluation thread of a runaway computation runs on (and allocates) until it finishes,
/// though nobody waits for it. There is no memory limit. A service that evaluates
/// repositories others write should use an isolating evaluator instead (the binary's
/// child-process evaluator, `docs/rendering.md`).
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

/// The in-process evaluator, for [`RenderLimits::default`].
pub static IN_PROCESS: InProcess = InProcess;

impl Evaluator for InProcess {
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError> {
        evaluate_in_process(files, input, limits)
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}

/// The limits every evaluation runs under, and the evaluator that enforces them.
#[derive(Clone, Copy)]
pub struct RenderLimits {
    /// The deepest nesting of calls and imports (go-jsonnet's `--max-stack`, 500 by default).
    pub max_stack: usize,
    /// How long one target's evaluation may take before it is stopped.
    pub timeout: Duration,
    /// How many bytes of memory one evaluation may use, where the evaluator can enforce it
    /// (the child-process evaluator does; [`InProcess`] cannot).
    pub memory: u64,
    /// Where evaluations run.
    pub evaluator: &'static dyn Evaluator,
}

/// The default time limit of one evaluation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default memory limit of one evaluation: 1 GiB.
pub const DEFAULT_MEMORY: u64 = 1 << 30;

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            max_stack: 500,
            timeout: DEFAULT_TIMEOUT,
            memory: DEFAULT_MEMORY,
            evaluator: &IN_PROCESS,
        }
    }
}

impl fmt::Debug for RenderLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderLimits")
            .field("max_stack", &self.max_stack)
            .field("timeout", &self.timeout)
            .field("memory", &self.memory)
            .field("evaluator", &self.evaluator.name())
            .finish()
    }
}

impl PartialEq for RenderLimits {
    fn eq(&self, other: &Self) -> bool {
        self.max_stack == other.max_stack
            && self.timeout == other.timeout
            && self.memory == other.memory
            && std::ptr::addr_eq(self.evaluator, other.evaluator)
    }
}

impl Eq for RenderLimits {}

/// What is evaluated: a target's entrypoint and its variables.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationInput<'a> {
    /// The Jsonnet file evaluated.
    pub entrypoint: &'a RepoPath,
    /// Library search paths, tried in order after the importing file's directory.
    pub jpath: &'a [RepoPath],
    /// `std.extVar` values (strings).
    pub ext_vars: &'a BTreeMap<String, String>,
    /// Top-level arguments (strings), applied when the entrypoint is a function.
    pub tlas: &'a BTreeMap<String, String>,
}

impl EvaluationInput<'_> {
    /// The job an evaluator runs for this input.
    pub fn job(&self, limits: &RenderLimits) -> EvaluationJob {
        EvaluationJob {
            entrypoint: self.entrypoint.clone(),
            jpath: self.jpath.to_vec(),
            ext_vars: self.ext_vars.clone(),
            tlas: self.tlas.clone(),
            max_stack: limits.max_stack,
        }
    }
}

/// A finished evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The value the entrypoint evaluated to, as JSON.
    pub value: serde_json::Value,
    /// Every path the evaluation read or looked for (found or not), the entrypoint included:
    /// if none of them changes, evaluating again gives the same value.
    pub inputs: BTreeSet<RepoPath>,
}

impl Evaluation {
    /// The evaluation whose value is the JSON text `json`, as [`run_job`] returns it.
    pub fn from_json(
        entrypoint: &RepoPath,
        json: &str,
        inputs: BTreeSet<RepoPath>,
    ) -> Result<Self, EvaluationError> {
        let value = serde_json::from_str(json).map_err(|error| {
            // serde_json stops at 128 levels rather than overflow its stack: a value nested
            // that deep is the repository's doing (a recursive function), not the evaluator's.
            if error.to_string().starts_with("recursion limit exceeded") {
                EvaluationError::Jsonnet {
                    message: format!(
                        "{entrypoint}: the value nests more than 128 levels deep, more than cfgupdate renders; look for a recursive function that builds it"
                    ),
                    trace: String::new(),
                }
            } else {
                EvaluationError::Crashed {
                    entrypoint: entrypoint.clone(),
                    reason: format!("jrsonnet produced JSON that does not parse: {error}"),
                }
            }
        })?;
        Ok(Evaluation { value, inputs })
    }
}

/// Why an evaluation failed. Messages name the file and line where Jsonnet reported one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// The entrypoint does not exist.
    #[error("the entrypoint `{entrypoint}` does not exist")]
    MissingEntrypoint {
        /// The entrypoint.
        entrypoint: RepoPath,
    },
    /// An import tried to leave the repository (`..` above the root, an absolute path, a
    /// symlink out).
    #[error("{message}")]
    ImportRefused {
        /// `file:line: import ... leads outside the repository`.
        message: String,
    },
    /// Jsonnet reported an error (syntax, runtime, a missing import, the recursion limit).
    #[error("{message}")]
    Jsonnet {
        /// `file:line: what went wrong`.
        message: String,
        /// jrsonnet's stack trace, for people who want more than one sentence.
        trace: String,
    },
    /// The time limit passed.
    #[error(
        "evaluating `{entrypoint}` took longer than its time limit of {} s and was stopped; look for a runaway computation, or raise the limit",
        limit.as_secs_f64()
    )]
    TimedOut {
        /// The entrypoint.
        entrypoint: RepoPath,
        /// The limit.
        limit: Duration,
    },
    /// The memory limit was reached.
    #[error(
        "evaluating `{entrypoint}` needed more than its memory limit of {} MiB and was stopped; look for a runaway computation (a string or array that doubles), or raise the limit",
        limit / (1 << 20)
    )]
    OutOfMemory {
        /// The entrypoint.
        entrypoint: RepoPath,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The evaluation recursed deeper than its stack, at run time.
    #[error(
        "evaluating `{entrypoint}` recursed deeper than the evaluator's stack and was stopped; look for unbounded recursion"
    )]
    StackExhausted {
        /// The entrypoint.
        entrypoint: RepoPath,
    },
    /// A file could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file nests deeper than cfgupdate parses.
    #[error(
        "{file}:{line}: the file nests about {depth} levels deep here (brackets, operators and chained `local`/`if`/`function`/`assert`/`error`), more than the {limit} cfgupdate parses"
    )]
    TooDeep {
        /// The file (whatever its name: any file imported as code is checked).
        file: RepoPath,
        /// The line where the limit was passed.
        line: usize,
        /// Its estimated nesting where the limit was passed.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// The evaluator could not be started or died.
    #[error("evaluating `{entrypoint}` failed inside the evaluator: {reason}")]
    Crashed {
        /// The entrypoint.
        entrypoint: RepoPath,
        /// What happened.
        reason: String,
    },
}

/// Evaluates `input` with files from `files`, with `limits.evaluator`.
pub fn evaluate(
    files: &dyn SourceFiles,
    input: EvaluationInput<'_>,
    limits: &RenderLimits,
) -> Result<Evaluation, EvaluationError> {
    limits.evaluator.evaluate(files, input, limits)
}

/// Messages from the evaluation thread to the thread that serves its reads.
enum Message {
    Read(RepoPath),
    Done(Result<String, EvaluationError>),
}

type ReadReply = Result<Option<Vec<u8>>, SourceError>;

/// Reads through the calling thread, which owns the `SourceFiles`.
struct ChannelReader {
    requests: Sender<Message>,
    replies: Receiver<ReadReply>,
}

impl FileReader for ChannelReader {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        self.requests
            .send(Message::Read(path.clone()))
            .ok()
            .and_then(|()| self.replies.recv().ok())
            .unwrap_or_else(|| {
                Err(SourceError::Unreadable {
                    path: path.to_string(),
                    reason: "the evaluation was given up".into(),
                })
            })
    }
}

/// [`InProcess`]'s evaluation: [`run_job`] on a thread of its own with a stack of
/// [`EVALUATION_STACK`] (jrsonnet's `State` and `Val` are not `Send`, and `files` need not
/// be), serving its reads here and giving up at the time limit.
fn evaluate_in_process(
    files: &dyn SourceFiles,
    input: EvaluationInput<'_>,
    limits: &RenderLimits,
) -> Result<Evaluation, EvaluationError> {
    let entrypoint = input.entrypoint.clone();
    let mut inputs = BTreeSet::new();
    let (to_server, from_evaluator) = mpsc::channel::<Message>();
    let (to_evaluator, replies) = mpsc::channel::<ReadReply>();
    let job = input.job(limits);
    let spawned = std::thread::Builder::new()
        .name(format!("jsonnet {entrypoint}"))
        .stack_size(EVALUATION_STACK)
        .spawn(move || {
            let reader = ChannelReader {
                requests: to_server.clone(),
                replies,
            };
            let outcome = run_job(job, Box::new(reader));
            // The server may have given up already; then nobody is listening.
            let _ = to_server.send(Message::Done(outcome));
        });
    if let Err(error) = spawned {
        return Err(EvaluationError::Crashed {
            entrypoint,
            reason: format!("cannot start a thread: {error}"),
        });
    }

    // The time limit is the only place rendering looks at time; it decides nothing about the
    // pipeline, so it uses std's monotonic timer rather than the pipeline's `Clock`.
    let deadline = Instant::now() + limits.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match from_evaluator.recv_timeout(left) {
            Ok(Message::Read(path)) => {
                inputs.insert(path.clone());
                let read = files.read(&path);
                // A failed send means the evaluator died; the next receive reports it.
                let _ = to_evaluator.send(read);
            }
            Ok(Message::Done(Ok(json))) => {
                return Evaluation::from_json(&entrypoint, &json, inputs);
            }
            Ok(Message::Done(Err(error))) => return Err(error),
            Err(RecvTimeoutError::Timeout) => {
                // The thread is abandoned: its next read fails, and a pure computation runs
                // to its end (or the recursion limit) with nobody waiting for it.
                return Err(EvaluationError::TimedOut {
                    entrypoint,
                    limit: limits.timeout,
                });
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(EvaluationError::Crashed {
                    entrypoint,
                    reason: "the evaluation thread panicked".into(),
                });
            }
        }
    }
}
