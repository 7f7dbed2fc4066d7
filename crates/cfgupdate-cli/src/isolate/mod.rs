//! Evaluation isolated in a child process: the binary's [`Evaluator`], with a memory limit
//! that the kernel enforces and a time limit after which the child is killed, so that no
//! Jsonnet in a repository can exhaust the service's memory, hold its writer, or leave a
//! computation running (issue 11, finding 2; `docs/rendering.md`).
//!
//! The child is this binary's hidden `evaluate-worker` subcommand ([`worker`]). It caps its
//! own address space (`RLIMIT_AS`), asks the kernel to kill it when its parent dies, and
//! evaluates one job after another, asking the parent for every file through its stdin and
//! stdout ([`protocol`]): the parent serves the reads from the same [`SourceFiles`] as an
//! in-process evaluation would, so the child needs no access to the repository. A worker that
//! finished an evaluation is kept for the next one, so a publish that renders every target of
//! a wave starts one process, not one per target; one that passed a limit is killed
//! (`SIGKILL`) and reaped before the error is returned.

mod protocol;
pub mod worker;

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cfgupdate_core::WriteOptions;
use cfgupdate_core::render::EVALUATION_STACK;
use cfgupdate_core::render::{
    DEFAULT_MEMORY, DEFAULT_TIMEOUT, Evaluation, EvaluationError, EvaluationInput, Evaluator,
    IN_PROCESS, RenderLimits, SourceError, SourceFiles,
};

use crate::failure::Failure;
use protocol::{
    ErrorFrame, FAILED, FOUND, JOB, JobFrame, NOT_FOUND, OUTSIDE, READ, UNREADABLE, VALUE,
};

/// The stack of the worker's evaluation thread (the same as an in-process evaluation's).
pub const WORKER_STACK: usize = EVALUATION_STACK;

/// What the worker's address space holds besides the evaluation's memory: its stack (reserved
/// whole), the program and its libraries, the allocator's per-thread arenas.
pub const WORKER_ADDRESS_SPACE_EXTRA: u64 = WORKER_STACK as u64 + (256 << 20);

/// How many idle workers are kept for the next evaluation, at least (as many as ran at once
/// otherwise).
const IDLE_WORKERS: usize = 2;

/// The last bytes of a worker's stderr kept, to tell why it died.
const STDERR_TAIL: usize = 16 << 10;

/// Where the settings of rendering come from (`docs/rendering.md`).
pub const TIMEOUT_VARIABLE: &str = "CFGUPDATE_RENDER_TIMEOUT";
/// See [`TIMEOUT_VARIABLE`].
pub const MEMORY_VARIABLE: &str = "CFGUPDATE_RENDER_MEMORY";
/// See [`TIMEOUT_VARIABLE`].
pub const ISOLATION_VARIABLE: &str = "CFGUPDATE_RENDER_ISOLATION";
/// See [`TIMEOUT_VARIABLE`].
pub const WORKERS_VARIABLE: &str = "CFGUPDATE_RENDER_WORKERS";

/// The most evaluations run at once unless `CFGUPDATE_RENDER_WORKERS` says otherwise: each may
/// take up to the memory limit, so the default stays small even on a large machine.
pub const DEFAULT_MAX_WORKERS: usize = 4;

/// The most `CFGUPDATE_RENDER_WORKERS` accepts.
pub const MAX_WORKERS: usize = 64;

static ISOLATED: OnceLock<ChildEvaluator> = OnceLock::new();

/// The render limits of this process: `CFGUPDATE_RENDER_TIMEOUT` (default 30 s),
/// `CFGUPDATE_RENDER_MEMORY` (default 1 GiB), `CFGUPDATE_RENDER_ISOLATION` (`process`, the
/// default, or `in-process`) and `CFGUPDATE_RENDER_WORKERS` (how many independent evaluations
/// run at once: default the processors available, at most [`DEFAULT_MAX_WORKERS`]; `1` runs
/// them one after another).
pub fn render_limits() -> Result<RenderLimits, Failure> {
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let timeout = match variable(TIMEOUT_VARIABLE) {
        Some(text) => parse_duration(&text)
            .map_err(|error| Failure::invalid(format!("{TIMEOUT_VARIABLE}: {error}")))?,
        None => DEFAULT_TIMEOUT,
    };
    let memory = match variable(MEMORY_VARIABLE) {
        Some(text) => parse_size(&text)
            .map_err(|error| Failure::invalid(format!("{MEMORY_VARIABLE}: {error}")))?,
        None => DEFAULT_MEMORY,
    };
    let evaluator: &'static dyn Evaluator = match variable(ISOLATION_VARIABLE).as_deref() {
        None | Some("process") => isolated()?,
        Some("in-process") => &IN_PROCESS,
        Some(other) => {
            return Err(Failure::invalid(format!(
                "{ISOLATION_VARIABLE}: `{}` is neither `process` nor `in-process`",
                other.escape_debug()
            )));
        }
    };
    let workers = match variable(WORKERS_VARIABLE) {
        Some(text) => parse_workers(&text)
            .map_err(|error| Failure::invalid(format!("{WORKERS_VARIABLE}: {error}")))?,
        None => std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(DEFAULT_MAX_WORKERS),
    };
    Ok(RenderLimits {
        timeout,
        memory,
        evaluator,
        workers,
        ..RenderLimits::default()
    })
}

/// [`WriteOptions`] with this process's [`render_limits`].
pub fn write_options() -> Result<WriteOptions, Failure> {
    Ok(WriteOptions {
        render: render_limits()?,
        ..WriteOptions::default()
    })
}

fn isolated() -> Result<&'static ChildEvaluator, Failure> {
    if let Some(evaluator) = ISOLATED.get() {
        return Ok(evaluator);
    }
    let program = std::env::current_exe().map_err(|error| {
        Failure::operational(format!(
            "cannot find this program to start evaluation workers: {error}"
        ))
    })?;
    Ok(ISOLATED.get_or_init(|| ChildEvaluator::new(program)))
}

/// A number of evaluations at once, from 1 to [`MAX_WORKERS`].
fn parse_workers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(workers) if (1..=MAX_WORKERS).contains(&workers) => Ok(workers),
        _ => Err(format!(
            "`{}` is not a number of evaluations at once: write a whole number from 1 (one after another) to {MAX_WORKERS}",
            text.escape_debug()
        )),
    }
}

/// A time limit such as `500ms`, `30s` or `2m` (the core's duration grammar), for the
/// environment and the command line.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    cfgupdate_core::parse_duration(text).map_err(|reason| {
        format!(
            "`{}` is not a duration: {reason}; write e.g. `30s`, `500ms`, `2m` or `1h`",
            cfgupdate_core::adapter::shown(text)
        )
    })
}

/// `512MiB`, `1GiB`, or bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text)?;
    let factor: u64 = match unit {
        "" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "`{}` is not a size: write e.g. `512MiB` or `2GiB`",
                text.escape_debug()
            ));
        }
    };
    match number.checked_mul(factor) {
        Some(size) if size >= 64 << 20 => Ok(size),
        _ => Err(format!(
            "`{}` is not a usable memory limit (at least 64MiB)",
            text.escape_debug()
        )),
    }
}

fn split_number(text: &str) -> Result<(u64, &str), String> {
    let text = text.trim();
    let at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(at);
    let number = digits
        .parse()
        .map_err(|_| format!("`{}` does not start with a number", text.escape_debug()))?;
    Ok((number, unit))
}

/// Evaluates in `cfgupdate evaluate-worker` child processes.
pub struct ChildEvaluator {
    program: PathBuf,
    idle: Mutex<Vec<Worker>>,
}

impl ChildEvaluator {
    /// Workers run `program evaluate-worker`.
    pub fn new(program: PathBuf) -> Self {
        ChildEvaluator {
            program,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle worker with this memory limit that is still alive, or a new one.
    fn take(&self, memory: u64) -> io::Result<Worker> {
        let reused = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut found = None;
            while let Some(mut worker) = idle.pop() {
                if worker.memory == memory && matches!(worker.child.try_wait(), Ok(None)) {
                    found = Some(worker);
                    break;
                }
                worker.stop();
            }
            found
        };
        match reused {
            Some(worker) => Ok(worker),
            None => Worker::start(&self.program, memory),
        }
    }

    /// Keeps `worker` for the next evaluation, up to as many as evaluations run at once.
    fn give_back(&self, mut worker: Worker, workers: usize) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < IDLE_WORKERS.max(workers) {
            idle.push(worker);
        } else {
            drop(idle);
            worker.stop();
        }
    }
}

impl Evaluator for ChildEvaluator {
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError> {
        let mut results = self.run_many(files, &[input], limits, 1);
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
        self.run_many(files, inputs, limits, limits.workers)
    }

    fn name(&self) -> &'static str {
        "child process"
    }
}

/// An evaluation in flight in a worker.
struct InFlight {
    index: usize,
    worker: Worker,
    entrypoint: cfgupdate_core::RepoPath,
    deadline: Instant,
    inputs: BTreeSet<cfgupdate_core::RepoPath>,
    read_error: Option<SourceError>,
}

impl InFlight {
    /// Stops the job's worker after `error` (reading from it or waiting for it failed) and
    /// says why the evaluation ended, from what the worker left behind.
    fn died(&mut self, limits: &RenderLimits, error: &io::Error) -> EvaluationError {
        let (status, stderr) = self.worker.stop();
        why_it_died(&self.entrypoint, limits, &status, &stderr, error)
    }

    /// Reads one frame from the job's worker, which has written something, and acts on
    /// it: a read request is served from `files` (`Ok(None)`: the job goes on), a value or an
    /// error ends the job (`Ok(Some)`, leaving the worker ready for the next one). An error of
    /// kind `TimedOut` when the job's time limit passes first.
    fn step(
        &mut self,
        files: &dyn SourceFiles,
        limits: &RenderLimits,
    ) -> io::Result<Option<Result<Evaluation, EvaluationError>>> {
        let mut reader = DeadlineReader {
            stdout: &mut self.worker.stdout,
            deadline: self.deadline,
        };
        let (tag, payload) = protocol::read_frame(&mut reader, limits.memory)?;
        match tag {
            READ => {
                let path = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|text| cfgupdate_core::RepoPath::parse(text).ok())
                    .ok_or_else(|| io::Error::other("the worker asked for a bad path"))?;
                self.inputs.insert(path.clone());
                let (tag, payload) = match files.read(&path) {
                    Ok(Some(bytes)) => (FOUND, bytes),
                    Ok(None) => (NOT_FOUND, Vec::new()),
                    Err(error) => {
                        let (tag, path, reason) = match &error {
                            SourceError::Outside { path, reason } => {
                                (OUTSIDE, path.clone(), reason.clone())
                            }
                            other => (UNREADABLE, path.to_string(), other.to_string()),
                        };
                        self.read_error = Some(error);
                        let refusal = protocol::ReadRefusal { path, reason };
                        (tag, serde_json::to_vec(&refusal).map_err(io::Error::other)?)
                    }
                };
                protocol::write_frame(&mut self.worker.stdin, tag, &payload)?;
                Ok(None)
            }
            VALUE => {
                let json = String::from_utf8_lossy(&payload);
                let inputs = std::mem::take(&mut self.inputs);
                Ok(Some(Evaluation::from_json(&self.entrypoint, &json, inputs)))
            }
            FAILED => {
                let frame: ErrorFrame =
                    serde_json::from_slice(&payload).map_err(io::Error::other)?;
                Ok(Some(Err(
                    frame.into_error(&self.entrypoint, self.read_error.take())
                )))
            }
            other => Err(io::Error::other(format!(
                "the worker sent a frame tagged {other}"
            ))),
        }
    }
}

impl ChildEvaluator {
    /// Runs `inputs` in up to `workers` workers at once, serving every worker's reads from
    /// `files` on this thread as they come (one `poll` over their pipes), and stopping each at
    /// its own limits: a worker past its time limit is killed and reaped, one that dies is
    /// reaped and its stderr read, and the others go on.
    fn run_many(
        &self,
        files: &dyn SourceFiles,
        inputs: &[EvaluationInput<'_>],
        limits: &RenderLimits,
        workers: usize,
    ) -> Vec<Result<Evaluation, EvaluationError>> {
        let workers = workers.max(1);
        let mut results: Vec<Option<Result<Evaluation, EvaluationError>>> =
            inputs.iter().map(|_| None).collect();
        let mut running: Vec<InFlight> = Vec::new();
        let mut next = 0;
        loop {
            while running.len() < workers && next < inputs.len() {
                let index = next;
                next += 1;
                match self.start(index, &inputs[index], limits) {
                    Ok(started) => running.push(started),
                    Err(error) => results[index] = Some(Err(error)),
                }
            }
            if running.is_empty() {
                break;
            }
            let ready = match wait_for_any(&running) {
                Ok(ready) => ready,
                Err(error) => {
                    // Polling itself failed: nothing can be served, every worker is stopped.
                    for mut job in running.drain(..) {
                        results[job.index] = Some(Err(job.died(limits, &error)));
                    }
                    continue;
                }
            };
            let mut still = Vec::with_capacity(running.len());
            for (mut job, readable) in running.drain(..).zip(ready) {
                let step = if readable || Instant::now() >= job.deadline {
                    job.step(files, limits)
                } else {
                    Ok(None)
                };
                match step {
                    Ok(None) => still.push(job),
                    Ok(Some(result)) => {
                        results[job.index] = Some(result);
                        self.give_back(job.worker, workers);
                    }
                    Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                        job.worker.stop();
                        results[job.index] = Some(Err(EvaluationError::TimedOut {
                            entrypoint: job.entrypoint,
                            limit: limits.timeout,
                        }));
                    }
                    Err(error) => {
                        results[job.index] = Some(Err(job.died(limits, &error)));
                    }
                }
            }
            running = still;
        }
        cfgupdate_core::render::in_order(results, inputs)
    }

    /// Sends evaluation `index` to an idle or new worker.
    fn start(
        &self,
        index: usize,
        input: &EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<InFlight, EvaluationError> {
        let entrypoint = input.entrypoint.clone();
        let deadline = Instant::now() + limits.timeout;
        let mut worker = self
            .take(limits.memory)
            .map_err(|error| EvaluationError::Crashed {
                entrypoint: entrypoint.clone(),
                reason: format!("cannot start an evaluation worker: {error}"),
            })?;
        let job = serde_json::to_vec(&JobFrame::from_job(&input.job(limits)))
            .map_err(io::Error::other)
            .and_then(|job| protocol::write_frame(&mut worker.stdin, JOB, &job));
        if let Err(error) = job {
            let (status, stderr) = worker.stop();
            return Err(why_it_died(&entrypoint, limits, &status, &stderr, &error));
        }
        Ok(InFlight {
            index,
            worker,
            entrypoint,
            deadline,
            inputs: BTreeSet::new(),
            read_error: None,
        })
    }
}

/// Waits until one of `running`'s workers has written something (or closed its stdout) or
/// the earliest time limit passes; says which are readable, in order.
fn wait_for_any(running: &[InFlight]) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = running
        .iter()
        .map(|job| libc::pollfd {
            fd: job.worker.stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let now = Instant::now();
        let Some(deadline) = running.iter().map(|job| job.deadline).min() else {
            return Ok(Vec::new());
        };
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Ok(vec![false; running.len()]);
        }
        let wait = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        let count = libc::nfds_t::try_from(polls.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `polls` is a valid array of `count` pollfds, owned by this frame, for the
        // duration of the call.
        let ready = unsafe { libc::poll(polls.as_mut_ptr(), count, wait) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        return Ok(polls.iter().map(|poll| poll.revents != 0).collect());
    }
}

/// The error for a worker that stopped answering: its memory limit, its stack, or a crash.
fn why_it_died(
    entrypoint: &cfgupdate_core::RepoPath,
    limits: &RenderLimits,
    status: &str,
    stderr: &str,
    error: &io::Error,
) -> EvaluationError {
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return EvaluationError::OutOfMemory {
            entrypoint: entrypoint.clone(),
            limit: limits.memory,
        };
    }
    if stderr.contains("overflowed its stack") {
        return EvaluationError::StackExhausted {
            entrypoint: entrypoint.clone(),
        };
    }
    let last = stderr.lines().rev().find(|line| !line.trim().is_empty());
    EvaluationError::Crashed {
        entrypoint: entrypoint.clone(),
        reason: match last {
            Some(line) => format!(
                "the evaluation worker {status} ({error}): {}",
                line.chars().take(300).collect::<String>()
            ),
            None => format!("the evaluation worker {status} ({error})"),
        },
    }
}

/// One `evaluate-worker` child.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<Vec<u8>>>,
    memory: u64,
}

impl Worker {
    fn start(program: &PathBuf, memory: u64) -> io::Result<Worker> {
        let mut child = Command::new(program)
            .arg("evaluate-worker")
            .arg("--memory")
            .arg(memory.to_string())
            // The worker needs nothing from the environment, and must not hold the service's
            // secrets.
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the worker's pipes were not set up"));
        };
        // Drains stderr (`std.trace` writes there) so the worker never blocks on it, keeping
        // the end, which says why a worker died. Ends when the worker does.
        let drain = std::thread::Builder::new()
            .name("evaluate-worker stderr".into())
            .spawn(move || {
                let mut chunk = [0u8; 4096];
                let mut kept = Vec::new();
                while let Ok(read) = stderr.read(&mut chunk) {
                    if read == 0 {
                        break;
                    }
                    kept.extend_from_slice(&chunk[..read]);
                    if kept.len() > STDERR_TAIL {
                        kept.drain(..kept.len() - STDERR_TAIL);
                    }
                }
                kept
            });
        let stderr = match drain {
            Ok(handle) => Some(handle),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        Ok(Worker {
            child,
            stdin,
            stdout,
            stderr,
            memory,
        })
    }

    /// Kills the worker, reaps it, and returns how it ended and the end of its stderr.
    fn stop(&mut self) -> (String, String) {
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(status) => describe_status(status),
            Err(error) => format!("could not be waited for ({error})"),
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|drain| drain.join().ok())
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&stderr).into_owned())
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was ended by signal {signal}"),
        (None, None) => "ended".into(),
    }
}

/// Reads the worker's stdout, failing with `TimedOut` once `deadline` passes.
struct DeadlineReader<'a> {
    stdout: &'a mut ChildStdout,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the time limit passed",
                ));
            }
            let mut poll = libc::pollfd {
                fd: self.stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let wait = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, wait) };
            if ready < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            if ready > 0 {
                // Readable (or closed): a read returns at once.
                return self.stdout.read(buf);
            }
        }
    }
}
