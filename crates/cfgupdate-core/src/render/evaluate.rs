//! One evaluation of a target's entrypoint with jrsonnet, confined to the repository, with a
//! recursion limit and a time limit, recording every file it read or looked for.
//!
//! jrsonnet's `State` and `Val` are not `Send`, and the files come from a [`SourceFiles`] that
//! need not be `Send` either. So evaluation runs on a thread of its own with its own `State`,
//! and asks the calling thread for every file through a channel; the calling thread serves the
//! reads, records them, and gives up when the time limit passes (jrsonnet has no way to stop an
//! evaluation from outside: see `docs/rendering.md`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::trace::{CompactFormat, PathResolver, TraceFormat};
use jrsonnet_evaluator::{
    AsPathLike, IStr, ImportResolver, ResolvePath, SourcePath, State, apply_tla, tla::TlaArg,
};
use jrsonnet_ir::SourceFile;

use super::source::{SourceError, SourceFiles};
use crate::path::RepoPath;

/// The stack of an evaluation thread: deep enough for nesting far past anything a
/// configuration needs; deeper input is refused before it is parsed
/// ([`super::nesting::MAX_NESTING`]).
const EVALUATION_STACK: usize = 1 << 30;

/// The limits every evaluation runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// The deepest nesting of calls and imports (go-jsonnet's `--max-stack`, 500 by default).
    pub max_stack: usize,
    /// How long one target's evaluation may take before it is given up.
    pub timeout: Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            max_stack: 500,
            timeout: Duration::from_secs(60),
        }
    }
}

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

/// A finished evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The value the entrypoint evaluated to, as JSON.
    pub value: serde_json::Value,
    /// Every path the evaluation read or looked for (found or not), the entrypoint included:
    /// if none of them changes, evaluating again gives the same value.
    pub inputs: BTreeSet<RepoPath>,
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
        "evaluating `{entrypoint}` took longer than {} s and was given up; look for a runaway computation, or raise the limit",
        limit.as_secs_f64()
    )]
    TimedOut {
        /// The entrypoint.
        entrypoint: RepoPath,
        /// The limit.
        limit: Duration,
    },
    /// A file could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A file nests deeper than the parser can take.
    #[error(
        "{file} nests about {depth} levels deep (brackets and chained `local`/`if`/`function`), more than the {limit} cfgupdate renders"
    )]
    TooDeep {
        /// The file.
        file: RepoPath,
        /// Its estimated nesting.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// The evaluation thread could not be started or died.
    #[error("evaluating `{entrypoint}` failed inside the evaluator: {reason}")]
    Crashed {
        /// The entrypoint.
        entrypoint: RepoPath,
        /// What happened.
        reason: String,
    },
}

/// Refuses Jsonnet nested deeper than the parser can take (data read with `importstr` or
/// `importbin`, by its name, is not Jsonnet and is not looked at).
fn refuse_deep(path: &RepoPath, bytes: &[u8]) -> Result<(), EvaluationError> {
    let code = [".jsonnet", ".libsonnet", ".json"]
        .iter()
        .any(|ext| path.as_str().ends_with(ext));
    if !code {
        return Ok(());
    }
    let depth = super::nesting::nesting(&String::from_utf8_lossy(bytes));
    if depth > super::nesting::MAX_NESTING {
        return Err(EvaluationError::TooDeep {
            file: path.clone(),
            depth,
            limit: super::nesting::MAX_NESTING,
        });
    }
    Ok(())
}

/// Messages from the evaluation thread to the thread that serves its reads.
enum Message {
    Read(RepoPath),
    Done(Result<String, Failure>),
}

type ReadReply = Result<Option<Vec<u8>>, SourceError>;

/// An evaluation failure, in a form that may cross threads.
struct Failure {
    message: String,
    trace: String,
    refused: bool,
    source: Option<SourceError>,
}

/// Evaluates `input` with files from `files`, under `limits`.
pub fn evaluate(
    files: &dyn SourceFiles,
    input: EvaluationInput<'_>,
    limits: &RenderLimits,
) -> Result<Evaluation, EvaluationError> {
    let entrypoint = input.entrypoint.clone();
    let entry_text =
        files
            .read(&entrypoint)?
            .ok_or_else(|| EvaluationError::MissingEntrypoint {
                entrypoint: entrypoint.clone(),
            })?;
    refuse_deep(&entrypoint, &entry_text)?;
    let mut inputs = BTreeSet::from([entrypoint.clone()]);

    let (to_server, from_evaluator) = mpsc::channel::<Message>();
    let (to_evaluator, replies) = mpsc::channel::<ReadReply>();
    let job = Job {
        entrypoint: entrypoint.clone(),
        entry_text,
        jpath: input.jpath.to_vec(),
        ext_vars: input.ext_vars.clone(),
        tlas: input.tlas.clone(),
        max_stack: limits.max_stack,
    };
    let spawned = std::thread::Builder::new()
        .name(format!("jsonnet {entrypoint}"))
        // The parser recurses once per bracket and `local` with large frames: a 2 MiB stack
        // overflowed (and aborted the process) at a few hundred levels. The stack is only
        // reserved; pages are committed as they are touched.
        .stack_size(EVALUATION_STACK)
        .spawn(move || {
            let outcome = job.run(to_server.clone(), replies);
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
                let read = files.read(&path)?;
                if let Some(bytes) = &read {
                    refuse_deep(&path, bytes)?;
                }
                // A failed send means the evaluator died; the next receive reports it.
                let _ = to_evaluator.send(Ok(read));
            }
            Ok(Message::Done(Ok(json))) => {
                let value =
                    serde_json::from_str(&json).map_err(|error| EvaluationError::Crashed {
                        entrypoint: entrypoint.clone(),
                        reason: format!("jrsonnet produced JSON that does not parse: {error}"),
                    })?;
                return Ok(Evaluation { value, inputs });
            }
            Ok(Message::Done(Err(failure))) => {
                return Err(match failure {
                    Failure {
                        source: Some(source),
                        ..
                    } => EvaluationError::Source(source),
                    Failure {
                        message,
                        refused: true,
                        ..
                    } => EvaluationError::ImportRefused { message },
                    Failure { message, trace, .. } => EvaluationError::Jsonnet { message, trace },
                });
            }
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

/// Everything the evaluation thread needs, all of it `Send`.
struct Job {
    entrypoint: RepoPath,
    entry_text: Vec<u8>,
    jpath: Vec<RepoPath>,
    ext_vars: BTreeMap<String, String>,
    tlas: BTreeMap<String, String>,
    max_stack: usize,
}

impl Job {
    fn run(
        self,
        requests: Sender<Message>,
        replies: Receiver<ReadReply>,
    ) -> Result<String, Failure> {
        let notes = std::rc::Rc::new(RefCell::new(Notes::default()));
        let resolver = RepoResolver {
            jpath: self.jpath,
            channel: RefCell::new(Some((requests, replies))),
            contents: RefCell::new(HashMap::from([(self.entrypoint.clone(), self.entry_text)])),
            notes: notes.clone(),
        };
        let context =
            super::stdlib_overrides::GoCompatibleStd::new(PathResolver::Relative(PathBuf::new()));
        for (name, value) in &self.ext_vars {
            context.add_ext_str(IStr::from(name.as_str()), IStr::from(value.as_str()));
        }
        let mut builder = State::builder();
        builder
            .import_resolver(resolver)
            .context_initializer(context);
        let state = builder.build();
        // Without entering the state, nested imports fail with "imports are not supported".
        let _entered = state.enter();
        let _depth = jrsonnet_evaluator::stack::limit_stack_depth(self.max_stack);
        let installed = super::stdlib_overrides::GoCompatibleStd::install(&state);

        // `IStr` hashes its interned text, which never changes: the lint's worry does not apply.
        #[allow(clippy::mutable_key_type)]
        let tlas: HashMap<IStr, TlaArg> = self
            .tlas
            .iter()
            .map(|(name, value)| {
                (
                    IStr::from(name.as_str()),
                    TlaArg::String(IStr::from(value.as_str())),
                )
            })
            .collect();
        let entry = SourcePath::new(SourceFile::new(PathBuf::from(self.entrypoint.as_str())));
        let result = installed
            .and_then(|()| state.import_resolved(entry))
            .and_then(|value| apply_tla(&tlas, value))
            .and_then(|value| value.manifest(JsonFormat::minify()));
        result.map_err(|error| {
            let notes = notes.borrow();
            Failure {
                message: describe(&error),
                trace: full_trace(&error),
                refused: notes.refused,
                source: notes.source.clone(),
            }
        })
    }
}

/// What the resolver noticed, for the error that follows.
#[derive(Default)]
struct Notes {
    refused: bool,
    source: Option<SourceError>,
}

/// Resolves imports inside the repository: relative to the importing file, then each `jpath`
/// entry; refuses absolute paths and `..` above the root; reads through the serving thread.
struct RepoResolver {
    jpath: Vec<RepoPath>,
    channel: RefCell<Option<(Sender<Message>, Receiver<ReadReply>)>>,
    contents: RefCell<HashMap<RepoPath, Vec<u8>>>,
    notes: std::rc::Rc<RefCell<Notes>>,
}

// The resolver holds no garbage-collected values, so it can take part in no cycle.
jrsonnet_gcmodule::trace_acyclic!(<> RepoResolver);

impl RepoResolver {
    fn refuse(&self, message: String) -> jrsonnet_evaluator::Error {
        self.notes.borrow_mut().refused = true;
        ErrorKind::ImportCallbackError(message).into()
    }

    fn fetch(&self, path: &RepoPath) -> Result<bool, jrsonnet_evaluator::Error> {
        if self.contents.borrow().contains_key(path) {
            return Ok(true);
        }
        let reply = {
            let channel = self.channel.borrow();
            let Some((requests, replies)) = channel.as_ref() else {
                return Err(ErrorKind::ImportIo("the evaluation was given up".into()).into());
            };
            requests
                .send(Message::Read(path.clone()))
                .ok()
                .and_then(|()| replies.recv().ok())
        };
        match reply {
            None => {
                self.channel.borrow_mut().take();
                Err(ErrorKind::ImportIo("the evaluation was given up".into()).into())
            }
            Some(Ok(Some(bytes))) => {
                self.contents.borrow_mut().insert(path.clone(), bytes);
                Ok(true)
            }
            Some(Ok(None)) => Ok(false),
            Some(Err(error @ SourceError::Outside { .. })) => Err(self.refuse(error.to_string())),
            Some(Err(error)) => {
                let message = error.to_string();
                self.notes.borrow_mut().source = Some(error);
                Err(ErrorKind::ImportCallbackError(message).into())
            }
        }
    }
}

impl RepoResolver {
    fn line_of(&self, file: &str, import: &str) -> Option<usize> {
        let path = RepoPath::parse(file).ok()?;
        let contents = self.contents.borrow();
        let text = String::from_utf8_lossy(contents.get(&path)?);
        text.lines()
            .position(|line| line.contains(import))
            .map(|index| index + 1)
    }
}

impl ImportResolver for RepoResolver {
    fn resolve_from(
        &self,
        from: &SourcePath,
        path: &dyn AsPathLike,
    ) -> jrsonnet_evaluator::Result<SourcePath> {
        let text = match path.as_path() {
            ResolvePath::Str(text) => text.to_owned(),
            ResolvePath::Path(path) => path.to_string_lossy().into_owned(),
        };
        let importer = from
            .downcast_ref::<SourceFile>()
            .map(|file| file.path().to_string_lossy().into_owned());
        let dir = importer
            .as_deref()
            .and_then(|file| file.rsplit_once('/').map(|(dir, _)| dir))
            .unwrap_or("");
        // jrsonnet attaches no location to a failed resolution, so the line is found here:
        // the first line of the importing file that mentions the path.
        let place = match importer.as_deref() {
            Some(file) => match self.line_of(file, &text) {
                Some(line) => format!("{file}:{line}"),
                None => file.to_owned(),
            },
            None => "a top-level argument".to_owned(),
        };
        if text.starts_with('/') {
            return Err(self.refuse(format!(
                "{place}: the import `{text}` is an absolute path; imports must stay inside the repository, write it relative to the importing file or a [render] jpath entry"
            )));
        }
        let mut candidates = vec![dir.to_owned()];
        candidates.extend(self.jpath.iter().map(|dir| dir.as_str().to_owned()));
        for base in candidates {
            let candidate = normalize(&base, &text).map_err(|reason| {
                self.refuse(format!(
                    "{place}: the import `{text}` leads outside the repository ({reason}); imports must stay inside it"
                ))
            })?;
            if self.fetch(&candidate)? {
                return Ok(SourcePath::new(SourceFile::new(PathBuf::from(
                    candidate.as_str(),
                ))));
            }
        }
        let searched = std::iter::once(if dir.is_empty() { "." } else { dir })
            .chain(self.jpath.iter().map(RepoPath::as_str))
            .collect::<Vec<_>>()
            .join(", ");
        Err(ErrorKind::ImportCallbackError(format!(
            "{place}: the import `{text}` is found in none of {searched}"
        ))
        .into())
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> jrsonnet_evaluator::Result<Vec<u8>> {
        let found = resolved
            .downcast_ref::<SourceFile>()
            .and_then(|file| RepoPath::parse(&file.path().to_string_lossy()).ok())
            .and_then(|path| self.contents.borrow().get(&path).cloned());
        found.ok_or_else(|| ErrorKind::ResolvedFileNotFound(resolved.clone()).into())
    }
}

/// `dir/import` with `.` and `..` worked out, refused if it climbs above the root.
fn normalize(dir: &str, import: &str) -> Result<RepoPath, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(import.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("`..` climbs above the repository root".into());
                }
            }
            part => parts.push(part),
        }
    }
    RepoPath::parse(&parts.join("/")).map_err(|error| error.reason.to_owned())
}

/// One line: where Jsonnet says the error is, and what it is.
fn describe(error: &jrsonnet_evaluator::Error) -> String {
    let what = error
        .error()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let place = match error.error() {
        // The resolver's own messages already name the file and line.
        ErrorKind::ImportCallbackError(_) => None,
        ErrorKind::ImportSyntaxError { path, error } => {
            let line = path.map_source_locations(&[error.location.1])[0].line;
            Some(format!("{}:{line}", path.source_path()))
        }
        _ => error.trace().0.iter().find_map(|element| {
            let span = element.location.as_ref()?;
            span.0.source_path().path()?;
            let line = span.0.map_source_locations(&[span.1])[0].line;
            Some(format!("{}:{line}", span.0.source_path()))
        }),
    };
    match place {
        Some(place) => format!("{place}: {what}"),
        None => what,
    }
}

fn full_trace(error: &jrsonnet_evaluator::Error) -> String {
    let format = CompactFormat {
        resolver: PathResolver::Relative(PathBuf::new()),
        max_trace: 20,
        padding: 4,
    };
    let mut out = String::new();
    match format.write_trace(&mut out, error) {
        Ok(()) => out,
        Err(_) => error.error().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_inside_the_repository_is_worked_out() {
        assert_eq!(
            normalize("envs/a", "../lib/x.libsonnet").unwrap().as_str(),
            "envs/lib/x.libsonnet"
        );
        assert_eq!(normalize("", "./a.jsonnet").unwrap().as_str(), "a.jsonnet");
    }

    #[test]
    fn dot_dot_above_the_root_and_into_git_are_refused() {
        assert!(normalize("envs", "../../etc/passwd").is_err());
        assert!(normalize("", "../x").is_err());
        assert!(normalize("", ".git/config").is_err());
    }
}
