//! The evaluation proper: one target's entrypoint evaluated with jrsonnet on the calling
//! thread, confined to the repository, every file asked of a [`FileReader`], and every file
//! Jsonnet will parse checked for depth before the parser sees it ([`super::nesting`]).
//!
//! It runs wherever an [`Evaluator`](super::Evaluator) puts it: on a thread of the calling
//! process ([`InProcess`](super::InProcess)), or in a child process that asks its parent for
//! files through a pipe (the binary's isolating evaluator). It does no IO of its own.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::trace::{CompactFormat, PathResolver, TraceFormat};
use jrsonnet_evaluator::{
    AsPathLike, IStr, ImportResolver, ResolvePath, SourcePath, State, apply_tla, tla::TlaArg,
};
use jrsonnet_ir::SourceFile;
use jrsonnet_rowan_parser::SyntaxKind;

use super::evaluate::EvaluationError;
use super::nesting::{self, MAX_DEPTH};
use super::source::SourceError;
use crate::path::RepoPath;

/// Where an evaluation's files come from: the repository, as the process that started the
/// evaluation sees it.
pub trait FileReader {
    /// A file's content, or `None` when there is no such file.
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError>;
}

/// One evaluation, all of it plain data: what an isolating evaluator sends to the process that
/// runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationJob {
    /// The Jsonnet file evaluated.
    pub entrypoint: RepoPath,
    /// Library search paths, tried in order after the importing file's directory.
    pub jpath: Vec<RepoPath>,
    /// `std.extVar` values (strings).
    pub ext_vars: BTreeMap<String, String>,
    /// Top-level arguments (strings).
    pub tlas: BTreeMap<String, String>,
    /// The deepest nesting of calls (go-jsonnet's `--max-stack`).
    pub max_stack: usize,
}

/// Evaluates `job` on the calling thread, reading every file through `reader`, and returns the
/// value as minified JSON.
///
/// The parsers and the evaluator recurse along the file's tree: run this on a stack of a few
/// hundred MiB (only the pages touched are committed). Files are refused beyond
/// [`MAX_DEPTH`], so that stack is enough for any file accepted.
///
/// A stack overflow that go-jsonnet would not have reached, because it does not count calls
/// marked `tailstrict`, is evaluated again with a higher limit.
pub fn run_job(job: EvaluationJob, reader: Box<dyn FileReader>) -> Result<String, EvaluationError> {
    let reader: Rc<dyn FileReader> = Rc::from(reader);
    let highest = job.max_stack.saturating_mul(super::tailstrict::MAX_FACTOR);
    let mut max_stack = job.max_stack;
    loop {
        let last = max_stack >= highest;
        match evaluate_once(&job, reader.clone(), max_stack, last) {
            Err(Attempt::Deeper) => {
                max_stack = max_stack
                    .saturating_mul(super::tailstrict::DEEPER)
                    .min(highest);
            }
            Err(Attempt::Failed(error)) => return Err(error),
            Ok(json) => return Ok(json),
        }
    }
}

/// Why one evaluation of [`run_job`] ended without a value.
enum Attempt {
    /// A stack overflow go-jsonnet would not have reached (never on the `last` attempt).
    Deeper,
    /// Any other failure.
    Failed(EvaluationError),
}

impl From<EvaluationError> for Attempt {
    fn from(error: EvaluationError) -> Self {
        Attempt::Failed(error)
    }
}

fn evaluate_once(
    job: &EvaluationJob,
    reader: Rc<dyn FileReader>,
    max_stack: usize,
    last: bool,
) -> Result<String, Attempt> {
    let entry_text = reader
        .read(&job.entrypoint)
        .map_err(EvaluationError::from)?
        .ok_or_else(|| EvaluationError::MissingEntrypoint {
            entrypoint: job.entrypoint.clone(),
        })?;
    refuse_deep(&job.entrypoint, &entry_text)?;
    let notes = Rc::new(RefCell::new(Notes::default()));
    let resolver = RepoResolver {
        jpath: job.jpath.clone(),
        reader,
        contents: RefCell::new(HashMap::from([(job.entrypoint.clone(), entry_text)])),
        data_imports: RefCell::new(HashMap::new()),
        checked: RefCell::new(HashSet::from([job.entrypoint.clone()])),
        notes: notes.clone(),
    };
    let context =
        super::stdlib_overrides::GoCompatibleStd::new(PathResolver::Relative(PathBuf::new()));
    for (name, value) in &job.ext_vars {
        context.add_ext_str(IStr::from(name.as_str()), IStr::from(value.as_str()));
    }
    let mut builder = State::builder();
    builder
        .import_resolver(resolver)
        .context_initializer(context);
    let state = builder.build();
    // Without entering the state, nested imports fail with "imports are not supported".
    let _entered = state.enter();
    let _depth = jrsonnet_evaluator::stack::limit_stack_depth(max_stack);
    let installed = super::stdlib_overrides::GoCompatibleStd::install(&state);

    // `IStr` hashes its interned text, which never changes: the lint's worry does not apply.
    #[allow(clippy::mutable_key_type)]
    let tlas: HashMap<IStr, TlaArg> = job
        .tlas
        .iter()
        .map(|(name, value)| {
            (
                IStr::from(name.as_str()),
                TlaArg::String(IStr::from(value.as_str())),
            )
        })
        .collect();
    let entry = SourcePath::new(SourceFile::new(PathBuf::from(job.entrypoint.as_str())));
    let result = installed
        .and_then(|()| state.import_resolved(entry))
        .and_then(|value| apply_tla(&tlas, value))
        .and_then(|value| value.manifest(JsonFormat::minify()));
    result.map_err(|error| {
        let mut notes = notes.borrow_mut();
        if let Some(too_deep) = notes.too_deep.take() {
            return Attempt::Failed(too_deep);
        }
        if let Some(source) = notes.source.take() {
            return Attempt::Failed(EvaluationError::Source(source));
        }
        if notes.refused {
            return Attempt::Failed(EvaluationError::ImportRefused {
                message: describe(&error),
            });
        }
        if !last && super::tailstrict::go_would_go_on(&error, job.max_stack) {
            return Attempt::Deeper;
        }
        Attempt::Failed(EvaluationError::Jsonnet {
            message: describe(&error),
            trace: full_trace(&error),
        })
    })
}

/// Refuses a file Jsonnet is about to parse when it nests deeper than [`MAX_DEPTH`].
fn refuse_deep(path: &RepoPath, bytes: &[u8]) -> Result<(), EvaluationError> {
    let text = String::from_utf8_lossy(bytes);
    nesting::check(&text, MAX_DEPTH)
        .map(drop)
        .map_err(|too_deep| EvaluationError::TooDeep {
            file: path.clone(),
            line: 1 + text
                .get(..too_deep.offset)
                .map_or(0, |before| before.matches('\n').count()),
            depth: too_deep.depth,
            limit: MAX_DEPTH,
        })
}

/// What the resolver noticed, for the error that follows.
#[derive(Default)]
struct Notes {
    refused: bool,
    source: Option<SourceError>,
    too_deep: Option<EvaluationError>,
}

/// Resolves imports inside the repository: relative to the importing file, then each `jpath`
/// entry; refuses absolute paths and `..` above the root; reads through the [`FileReader`].
struct RepoResolver {
    jpath: Vec<RepoPath>,
    reader: Rc<dyn FileReader>,
    contents: RefCell<HashMap<RepoPath, Vec<u8>>>,
    /// For each importing file, the paths it names only after `importstr` or `importbin`:
    /// their content is data, never parsed, and is not checked for depth.
    data_imports: RefCell<HashMap<String, HashSet<String>>>,
    /// Files already found shallow enough to parse.
    checked: RefCell<HashSet<RepoPath>>,
    notes: Rc<RefCell<Notes>>,
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
        match self.reader.read(path) {
            Ok(Some(bytes)) => {
                self.contents.borrow_mut().insert(path.clone(), bytes);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(error @ SourceError::Outside { .. }) => Err(self.refuse(error.to_string())),
            Err(error) => {
                let message = error.to_string();
                self.notes.borrow_mut().source = Some(error);
                Err(ErrorKind::ImportCallbackError(message).into())
            }
        }
    }

    fn line_of(&self, file: &str, import: &str) -> Option<usize> {
        let path = RepoPath::parse(file).ok()?;
        let contents = self.contents.borrow();
        let text = String::from_utf8_lossy(contents.get(&path)?);
        text.lines()
            .position(|line| line.contains(import))
            .map(|index| index + 1)
    }

    /// Whether `importer` names `import` only as data (`importstr`, `importbin`). Anything
    /// else, a path also imported as code or written in a way this does not recognise, is
    /// treated as code.
    fn only_data(&self, importer: &str, import: &str) -> bool {
        if let Some(paths) = self.data_imports.borrow().get(importer) {
            return paths.contains(import);
        }
        let paths = RepoPath::parse(importer)
            .ok()
            .and_then(|path| {
                let contents = self.contents.borrow();
                contents
                    .get(&path)
                    .map(|bytes| data_imports(&String::from_utf8_lossy(bytes)))
            })
            .unwrap_or_default();
        let only = paths.contains(import);
        self.data_imports
            .borrow_mut()
            .insert(importer.to_owned(), paths);
        only
    }

    /// Refuses `path`, about to be imported as code, when it is too deep to parse.
    fn check_depth(&self, path: &RepoPath) -> Result<(), jrsonnet_evaluator::Error> {
        if self.checked.borrow().contains(path) {
            return Ok(());
        }
        let verdict = match self.contents.borrow().get(path) {
            Some(bytes) => refuse_deep(path, bytes),
            None => Ok(()),
        };
        match verdict {
            Ok(()) => {
                self.checked.borrow_mut().insert(path.clone());
                Ok(())
            }
            Err(error) => {
                let message = error.to_string();
                self.notes.borrow_mut().too_deep = Some(error);
                Err(ErrorKind::ImportCallbackError(message).into())
            }
        }
    }
}

/// The paths `text` names after `importstr` or `importbin` and never after `import`, as
/// written between plain quotes.
fn data_imports(text: &str) -> HashSet<String> {
    let mut data = HashSet::new();
    let mut code = HashSet::new();
    for (keyword, path) in super::imports::import_literals(text) {
        let Some(path) = path else { continue };
        if keyword == SyntaxKind::IMPORT_KW {
            code.insert(path);
        } else {
            data.insert(path);
        }
    }
    data.retain(|path| !code.contains(path));
    data
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
                // Whatever its name, a file imported as code is parsed: check it first.
                let data = importer
                    .as_deref()
                    .is_some_and(|importer| self.only_data(importer, &text));
                if !data {
                    self.check_depth(&candidate)?;
                }
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
pub(crate) fn normalize(dir: &str, import: &str) -> Result<RepoPath, String> {
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

/// The most characters of Jsonnet's own message kept in an error.
const MAX_MESSAGE: usize = 1_000;

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
    // A message can repeat itself for every binding of a large file (megabytes of "local is
    // already defined"): one sentence is enough.
    let what = match what.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}...", &what[..cut]),
        None => what,
    };
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

    #[test]
    fn only_paths_never_imported_as_code_are_data() {
        let text = "local a = importstr 'a.txt';\nlocal b = importbin \"b.bin\";\n\
                    local c = import 'c.txt';\nlocal d = importstr 'c.txt';\n\
                    local e = importstr 'e\\u0041.txt';\n{}";
        let data = data_imports(text);
        assert_eq!(
            data,
            HashSet::from(["a.txt".to_owned(), "b.bin".to_owned()])
        );
    }
}
