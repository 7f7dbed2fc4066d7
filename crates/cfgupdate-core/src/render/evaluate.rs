//! One evaluation of a target's entrypoint, behind a port: [`Evaluator`] says where it runs
//! and how it is stopped; [`RenderLimits`] says how deep, how long and how large it may get.
//!
//! The core does no IO, so the evaluator that isolates an evaluation in a child process with
//! a memory limit, and kills it at the time limit, lives in the binary; the core has
//! [`InProcess`], for library users and tests. Both run [`run_job`](super::job::run_job)
//! and both serve its file reads from a [`SourceFiles`] on the calling thread, recording every
//! path read or looked for.
//!
//! Evaluations of different targets are independent: [`Evaluator::evaluate_many`] runs up to
//! [`RenderLimits::workers`] of them at once, each on its own thread (or child process), while
//! the calling thread, which alone owns the `SourceFiles` (a git repository is not `Sync`),
//! answers every one's read requests as they come, and each keeps its own limits.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
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
/// (`SourceFiles` need not be `Send` nor `Sync`), records every path read or looked for in
/// [`Evaluation::inputs`], and returns within about `limits.timeout`.
pub trait Evaluator: Send + Sync {
    /// Evaluates `input`.
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError>;

    /// Evaluates every one of `inputs`, which are independent of each other, and returns their
    /// results in the order of `inputs`, each exactly what [`evaluate`](Self::evaluate) would
    /// have returned for it.
    ///
    /// An implementation may run up to `limits.workers` of them at once, as long as every read
    /// is still served from `files` on the calling thread, each evaluation keeps its own limits
    /// (its time limit counts from its own start), and one that fails, panics or is stopped
    /// leaves the others running. The default runs them one after another.
    fn evaluate_many(
        &self,
        files: &dyn SourceFiles,
        inputs: &[EvaluationInput<'_>],
        limits: &RenderLimits,
    ) -> Vec<Result<Evaluation, EvaluationError>> {
        inputs
            .iter()
            .map(|input| self.evaluate(files, *input, limits))
            .collect()
    }

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
        let mut results = evaluate_jobs(files, &[input], limits, 1, run_job);
        results.pop().unwrap_or_else(|| {
            Err(EvaluationError::Crashed {
                entrypoint: input.entrypoint.clone(),
                reason: "the evaluation returned nothing".into(),
            })
        })
    }

    fn evaluate_many(
        &self,
        files: &dyn SourceFiles,
        inputs: &[EvaluationInput<'_>],
        limits: &RenderLimits,
    ) -> Vec<Result<Evaluation, EvaluationError>> {
        evaluate_jobs(files, inputs, limits, limits.workers, run_job)
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
    /// How many independent evaluations may run at once ([`Evaluator::evaluate_many`]); 1 runs
    /// one after another. Each has the limits above, so up to this many times `memory` may be
    /// in use.
    pub workers: usize,
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
            workers: 1,
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
            .field("workers", &self.workers)
            .finish()
    }
}

impl PartialEq for RenderLimits {
    fn eq(&self, other: &Self) -> bool {
        self.max_stack == other.max_stack
            && self.timeout == other.timeout
            && self.memory == other.memory
            && self.workers == other.workers
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
        let value = value_from_json(entrypoint, json)?;
        Ok(Evaluation { value, inputs })
    }
}

/// The value of the JSON text `json` that evaluating `entrypoint` gave.
fn value_from_json(
    entrypoint: &RepoPath,
    json: &str,
) -> Result<serde_json::Value, EvaluationError> {
    serde_json::from_str(json).map_err(|error| {
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
    })
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

/// Messages from the evaluation threads to the thread that serves their reads, each with the
/// index of its evaluation.
enum Message {
    Read(usize, RepoPath),
    Done(usize, Result<serde_json::Value, EvaluationError>),
}

type ReadReply = Result<Option<Vec<u8>>, SourceError>;

/// What runs one job on an evaluation thread: [`run_job`], or a test double.
pub(crate) type JobRunner =
    fn(EvaluationJob, Box<dyn FileReader>) -> Result<String, EvaluationError>;

/// Reads through the calling thread, which owns the `SourceFiles`.
struct ChannelReader {
    index: usize,
    requests: Sender<Message>,
    replies: Receiver<ReadReply>,
}

impl FileReader for ChannelReader {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        self.requests
            .send(Message::Read(self.index, path.clone()))
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

/// An evaluation in flight.
struct Running {
    entrypoint: RepoPath,
    deadline: Instant,
    inputs: BTreeSet<RepoPath>,
    /// Dropped when the evaluation is given up: its next read then fails.
    replies: Sender<ReadReply>,
}

/// [`InProcess`]'s evaluations: each job run by `run` on a thread of its own with a stack of
/// [`EVALUATION_STACK`] (jrsonnet's `State` and `Val` are not `Send`, and `files` need not
/// be), up to `workers` at once, serving all their reads here, one at a time, and giving each
/// up at its own time limit. A panicking evaluation is reported as crashed; the others go on.
pub(crate) fn evaluate_jobs(
    files: &dyn SourceFiles,
    inputs: &[EvaluationInput<'_>],
    limits: &RenderLimits,
    workers: usize,
    run: JobRunner,
) -> Vec<Result<Evaluation, EvaluationError>> {
    let workers = workers.max(1);
    let mut results: Vec<Option<Result<Evaluation, EvaluationError>>> =
        inputs.iter().map(|_| None).collect();
    let (to_server, from_evaluators) = mpsc::channel::<Message>();
    let mut running: BTreeMap<usize, Running> = BTreeMap::new();
    let mut next = 0;
    loop {
        while running.len() < workers && next < inputs.len() {
            let index = next;
            next += 1;
            match start(index, &inputs[index], limits, to_server.clone(), run) {
                Ok(started) => {
                    running.insert(index, started);
                }
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        let Some(deadline) = running.values().map(|job| job.deadline).min() else {
            break;
        };
        // The time limits are the only place rendering looks at time; they decide nothing
        // about the pipeline, so they use std's monotonic timer rather than the `Clock`.
        let left = deadline.saturating_duration_since(Instant::now());
        // A time limit that has passed is acted on before any message: evaluations that keep
        // asking for files would otherwise keep the channel full, and the limit would never
        // be looked at.
        let received = if left.is_zero() {
            Err(RecvTimeoutError::Timeout)
        } else {
            from_evaluators.recv_timeout(left)
        };
        match received {
            Ok(Message::Read(index, path)) => {
                // A read of an evaluation given up already is left unanswered: its reply
                // channel is gone, so it fails.
                if let Some(job) = running.get_mut(&index) {
                    job.inputs.insert(path.clone());
                    let read = files.read(&path);
                    // A failed send means the evaluation thread died; its `Done` follows.
                    let _ = job.replies.send(read);
                }
            }
            Ok(Message::Done(index, outcome)) => {
                if let Some(job) = running.remove(&index) {
                    results[index] = Some(outcome.map(|value| Evaluation {
                        value,
                        inputs: job.inputs,
                    }));
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let late: Vec<usize> = running
                    .iter()
                    .filter(|(_, job)| job.deadline <= now)
                    .map(|(index, _)| *index)
                    .collect();
                for index in late {
                    if let Some(job) = running.remove(&index) {
                        // The thread is abandoned: its next read fails, and a pure
                        // computation runs to its end (or the recursion limit) with nobody
                        // waiting for it.
                        results[index] = Some(Err(EvaluationError::TimedOut {
                            entrypoint: job.entrypoint,
                            limit: limits.timeout,
                        }));
                    }
                }
            }
            // This function holds a sender itself: the channel cannot close.
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    in_order(results, inputs)
}

/// The results of an [`Evaluator::evaluate_many`], in the order of `inputs`, from the slots its
/// workers filled as they finished: an evaluation whose slot stayed empty ended without a
/// result, which is its own crash (never another target's error, never a missing entry).
pub fn in_order(
    results: Vec<Option<Result<Evaluation, EvaluationError>>>,
    inputs: &[EvaluationInput<'_>],
) -> Vec<Result<Evaluation, EvaluationError>> {
    results
        .into_iter()
        .zip(inputs)
        .map(|(result, input)| {
            result.unwrap_or_else(|| {
                Err(EvaluationError::Crashed {
                    entrypoint: input.entrypoint.clone(),
                    reason: "the evaluation ended without a result".into(),
                })
            })
        })
        .collect()
}

/// Starts evaluation `index` on a thread of its own.
fn start(
    index: usize,
    input: &EvaluationInput<'_>,
    limits: &RenderLimits,
    to_server: Sender<Message>,
    run: JobRunner,
) -> Result<Running, EvaluationError> {
    let entrypoint = input.entrypoint.clone();
    let (to_evaluator, replies) = mpsc::channel::<ReadReply>();
    let job = input.job(limits);
    let spawned = std::thread::Builder::new()
        .name(format!("jsonnet {entrypoint}"))
        .stack_size(EVALUATION_STACK)
        .spawn(move || {
            let reader = ChannelReader {
                index,
                requests: to_server.clone(),
                replies,
            };
            let entrypoint = job.entrypoint.clone();
            let entrypoint_of_thread = entrypoint.clone();
            // A panic ends this evaluation alone, reported as a crash; the others go on. The
            // value is parsed here, so that evaluations in flight parse theirs at once too.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run(job, Box::new(reader))
                    .and_then(|json| value_from_json(&entrypoint_of_thread, &json))
            }))
            .unwrap_or_else(|_| {
                Err(EvaluationError::Crashed {
                    entrypoint,
                    reason: "the evaluation thread panicked".into(),
                })
            });
            // The server may have given up already; then nobody is listening.
            let _ = to_server.send(Message::Done(index, outcome));
        });
    match spawned {
        Ok(_) => Ok(Running {
            entrypoint,
            deadline: Instant::now() + limits.timeout,
            inputs: BTreeSet::new(),
            replies: to_evaluator,
        }),
        Err(error) => Err(EvaluationError::Crashed {
            entrypoint,
            reason: format!("cannot start a thread: {error}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::thread::ThreadId;

    use super::*;

    /// Files in memory, recording the thread every read is served on.
    struct Files {
        files: BTreeMap<RepoPath, Vec<u8>>,
        served_on: Mutex<Vec<ThreadId>>,
    }

    impl Files {
        fn new(files: &[(&str, &str)]) -> Self {
            Files {
                files: files
                    .iter()
                    .map(|(path, text)| (RepoPath::parse(path).unwrap(), text.as_bytes().to_vec()))
                    .collect(),
                served_on: Mutex::new(Vec::new()),
            }
        }
    }

    impl SourceFiles for Files {
        fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
            self.served_on
                .lock()
                .unwrap()
                .push(std::thread::current().id());
            Ok(self.files.get(path).cloned())
        }

        fn list(&self, _dir: &str) -> Result<Vec<RepoPath>, SourceError> {
            Ok(Vec::new())
        }
    }

    fn paths(names: &[&str]) -> Vec<RepoPath> {
        names
            .iter()
            .map(|name| RepoPath::parse(name).unwrap())
            .collect()
    }

    fn inputs<'a>(
        entrypoints: &'a [RepoPath],
        empty: &'a BTreeMap<String, String>,
    ) -> Vec<EvaluationInput<'a>> {
        entrypoints
            .iter()
            .map(|entrypoint| EvaluationInput {
                entrypoint,
                jpath: &[],
                ext_vars: empty,
                tlas: empty,
            })
            .collect()
    }

    /// How many evaluations of [`meet_then_read`] are in flight, the most seen when a read
    /// was answered, and how many have started.
    #[derive(Default)]
    struct Meeting {
        started: usize,
        in_flight: usize,
        most_in_flight_at_a_read: usize,
    }

    static MEETING: Mutex<Meeting> = Mutex::new(Meeting {
        started: 0,
        in_flight: 0,
        most_in_flight_at_a_read: 0,
    });
    static MET: Condvar = Condvar::new();

    /// Waits until a second evaluation has started too (or a generous while, so that the test
    /// fails rather than hangs when they run one after another), then reads its entrypoint and
    /// the file it names, noting how many evaluations are in flight when each is answered.
    fn meet_then_read(
        job: EvaluationJob,
        reader: Box<dyn FileReader>,
    ) -> Result<String, EvaluationError> {
        {
            let mut meeting = MEETING.lock().unwrap();
            meeting.started += 1;
            meeting.in_flight += 1;
            MET.notify_all();
            let (meeting, _) = MET
                .wait_timeout_while(meeting, Duration::from_secs(20), |meeting| {
                    meeting.started < 2
                })
                .unwrap();
            drop(meeting);
        }
        let read = |path: &RepoPath| {
            let bytes = reader.read(path).ok().flatten().unwrap_or_default();
            let mut meeting = MEETING.lock().unwrap();
            meeting.most_in_flight_at_a_read =
                meeting.most_in_flight_at_a_read.max(meeting.in_flight);
            String::from_utf8(bytes).unwrap_or_default()
        };
        let named = read(&job.entrypoint);
        let value = read(&RepoPath::parse(named.trim()).unwrap());
        MEETING.lock().unwrap().in_flight -= 1;
        Ok(serde_json::to_string(&value).unwrap())
    }

    #[test]
    fn reads_of_two_evaluations_in_flight_are_answered_on_the_calling_thread() {
        let files = Files::new(&[
            ("a.jsonnet", "a.txt"),
            ("a.txt", "value of a"),
            ("b.jsonnet", "b.txt"),
            ("b.txt", "value of b"),
        ]);
        let entrypoints = paths(&["a.jsonnet", "b.jsonnet"]);
        let empty = BTreeMap::new();
        let results = evaluate_jobs(
            &files,
            &inputs(&entrypoints, &empty),
            &RenderLimits::default(),
            2,
            meet_then_read,
        );
        let values: Vec<_> = results
            .into_iter()
            .map(|result| result.map(|evaluation| evaluation.value))
            .collect();
        assert_eq!(
            values,
            vec![Ok("value of a".into()), Ok("value of b".into())]
        );
        // Both evaluations were in flight while their reads were answered, and every read was
        // answered here, where the files are.
        assert_eq!(MEETING.lock().unwrap().most_in_flight_at_a_read, 2);
        let served_on = files.served_on.lock().unwrap();
        assert_eq!(served_on.len(), 4);
        assert!(
            served_on
                .iter()
                .all(|thread| *thread == std::thread::current().id())
        );
    }

    /// Panics for `panics.jsonnet`, waits to be let go for `waits.jsonnet`, and otherwise
    /// returns the entrypoint's content.
    fn panics_waits_or_reads(
        job: EvaluationJob,
        reader: Box<dyn FileReader>,
    ) -> Result<String, EvaluationError> {
        match job.entrypoint.as_str() {
            "panics.jsonnet" => panic!("a bug in one evaluation"),
            "waits.jsonnet" => {
                let released = RELEASED.lock().unwrap();
                let _released = LET_GO.wait_while(released, |released| !*released).unwrap();
                // Given up by now: its read fails.
                match reader.read(&job.entrypoint) {
                    Err(error) => Err(EvaluationError::Source(error)),
                    Ok(_) => Ok("\"read after it was given up\"".into()),
                }
            }
            _ => {
                let bytes = reader
                    .read(&job.entrypoint)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                Ok(serde_json::to_string(&String::from_utf8_lossy(&bytes)).unwrap())
            }
        }
    }

    static RELEASED: Mutex<bool> = Mutex::new(false);
    static LET_GO: Condvar = Condvar::new();

    #[test]
    fn a_panicking_or_timed_out_evaluation_ends_alone_and_the_others_finish() {
        let files = Files::new(&[("a.jsonnet", "a"), ("b.jsonnet", "b"), ("c.jsonnet", "c")]);
        let entrypoints = paths(&[
            "a.jsonnet",
            "panics.jsonnet",
            "waits.jsonnet",
            "b.jsonnet",
            "c.jsonnet",
        ]);
        let empty = BTreeMap::new();
        let limits = RenderLimits {
            timeout: Duration::from_secs(2),
            ..RenderLimits::default()
        };
        let results = evaluate_jobs(
            &files,
            &inputs(&entrypoints, &empty),
            &limits,
            2,
            panics_waits_or_reads,
        );
        *RELEASED.lock().unwrap() = true;
        LET_GO.notify_all();
        let values: Vec<_> = results
            .into_iter()
            .map(|result| result.map(|evaluation| evaluation.value))
            .collect();
        assert_eq!(
            values,
            vec![
                Ok("a".into()),
                Err(EvaluationError::Crashed {
                    entrypoint: entrypoints[1].clone(),
                    reason: "the evaluation thread panicked".into(),
                }),
                Err(EvaluationError::TimedOut {
                    entrypoint: entrypoints[2].clone(),
                    limit: Duration::from_secs(2),
                }),
                Ok("b".into()),
                Ok("c".into()),
            ]
        );
    }

    /// Files that take a moment to read, as a large repository's may, and that answer a read
    /// only once another has been asked for too (or a while has passed), so that the channel
    /// holds a request whenever the server looks at it.
    struct SlowFiles {
        served: Mutex<usize>,
    }

    impl SourceFiles for SlowFiles {
        fn read(&self, _path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
            let served = {
                let mut served = self.served.lock().unwrap();
                *served += 1;
                *served
            };
            let asked = ASKED.lock().unwrap();
            let asked = ASKED_MORE
                .wait_timeout_while(asked, Duration::from_millis(200), |asked| *asked <= served)
                .unwrap();
            drop(asked);
            // Time for the next request, counted already, to land in the channel.
            std::thread::sleep(Duration::from_millis(2));
            Ok(Some(b"{}".to_vec()))
        }

        fn list(&self, _dir: &str) -> Result<Vec<RepoPath>, SourceError> {
            Ok(Vec::new())
        }
    }

    static ASKED: Mutex<usize> = Mutex::new(0);
    static ASKED_MORE: Condvar = Condvar::new();

    /// Reads its entrypoint over and over (as an import that is looked for in a directory
    /// before the jpath entry that has it, inside a function called again and again), until
    /// a read fails or 500 have been answered.
    fn reads_on_and_on(
        job: EvaluationJob,
        reader: Box<dyn FileReader>,
    ) -> Result<String, EvaluationError> {
        for _ in 0..500 {
            *ASKED.lock().unwrap() += 1;
            ASKED_MORE.notify_all();
            reader.read(&job.entrypoint)?;
        }
        Ok("\"read on past its time limit\"".into())
    }

    #[test]
    fn evaluations_that_keep_reading_are_still_stopped_at_their_time_limit() {
        let entrypoints = paths(&["a.jsonnet", "b.jsonnet", "c.jsonnet", "d.jsonnet"]);
        let empty = BTreeMap::new();
        let limits = RenderLimits {
            timeout: Duration::from_millis(100),
            ..RenderLimits::default()
        };
        // Four at once: while one's read is served, the others' wait in the channel, so the
        // channel is never empty until they are done.
        let files = SlowFiles {
            served: Mutex::new(0),
        };
        let results = evaluate_jobs(
            &files,
            &inputs(&entrypoints, &empty),
            &limits,
            4,
            reads_on_and_on,
        );
        let expected: Vec<_> = entrypoints
            .iter()
            .map(|entrypoint| {
                Err(EvaluationError::TimedOut {
                    entrypoint: entrypoint.clone(),
                    limit: limits.timeout,
                })
            })
            .collect();
        assert_eq!(results, expected);
    }

    #[test]
    fn in_process_evaluations_give_the_same_results_one_at_a_time_and_four_at_once() {
        let mut sources = vec![(
            "lib.libsonnet".to_owned(),
            "{ twice(x):: 2 * x }".to_owned(),
        )];
        for index in 0..12 {
            let text = if index == 7 {
                "local lib = import 'lib.libsonnet'; lib.thrice(1)".to_owned()
            } else {
                format!("local lib = import 'lib.libsonnet'; {{ n: lib.twice({index}) }}")
            };
            sources.push((format!("t{index}.jsonnet"), text));
        }
        let refs: Vec<(&str, &str)> = sources
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        let files = Files::new(&refs);
        let names: Vec<String> = (0..12).map(|index| format!("t{index}.jsonnet")).collect();
        let entrypoints: Vec<RepoPath> = names
            .iter()
            .map(|name| RepoPath::parse(name).unwrap())
            .collect();
        let empty = BTreeMap::new();
        let inputs = inputs(&entrypoints, &empty);
        let one = InProcess.evaluate_many(&files, &inputs, &RenderLimits::default());
        let four = InProcess.evaluate_many(
            &files,
            &inputs,
            &RenderLimits {
                workers: 4,
                ..RenderLimits::default()
            },
        );
        assert_eq!(one, four);
        assert!(
            matches!(one[7], Err(EvaluationError::Jsonnet { .. })),
            "{:?}",
            one[7]
        );
        assert_eq!(
            one[3].as_ref().unwrap().value,
            serde_json::json!({ "n": 6 })
        );
    }
}
