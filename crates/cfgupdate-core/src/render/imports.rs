//! The static import graph: which files a target's evaluation can read, found without
//! evaluating it, so that a change is evaluated only on the targets it can affect (issue 12).
//!
//! Jsonnet names every file it reads with a string literal after `import`, `importstr` or
//! `importbin` (there are no computed imports), and the evaluator resolves each one as
//! [`super::job`]'s resolver does: relative to the importing file's directory, then each
//! `[render].jpath` entry in order, taking the first that exists. So the files a target can
//! read are the closure of its entrypoint under those literals, together with every candidate
//! looked for before the one found (creating one of those would change what is imported).
//!
//! The closure over-approximates the evaluation's own inputs (an import in a branch that is not
//! taken is counted), never under-approximates them: whatever this cannot work out exactly (an
//! import path written with escapes, as a verbatim or `|||` string, an absolute path, one that
//! climbs above the root, a file that cannot be read) makes the target's reach
//! [`Reach::Unknown`], and such a target is evaluated for every change.

use std::collections::{BTreeSet, HashMap};

use jrsonnet_rowan_parser::SyntaxKind;

use super::job::normalize;
use super::source::{SourceError, SourceFiles};
use crate::path::RepoPath;

/// What a target's evaluation can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reach {
    /// At most these files (found or only looked for), the entrypoint included.
    Known(BTreeSet<RepoPath>),
    /// Some import could not be worked out without evaluating.
    Unknown,
}

impl Reach {
    /// Whether a change to any of `changed` can alter the evaluation.
    pub(crate) fn touches<'p>(&self, mut changed: impl Iterator<Item = &'p RepoPath>) -> bool {
        match self {
            Reach::Known(files) => changed.any(|path| files.contains(path)),
            Reach::Unknown => true,
        }
    }
}

/// One import of a file, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Import {
    /// `import 'path'`: the file found is parsed, and its imports followed.
    Code(String),
    /// `importstr`/`importbin 'path'`: the file found is read as data.
    Data(String),
}

/// Where an import leads.
enum Resolved {
    Found(RepoPath),
    NotFound,
    /// Outside the repository: the evaluator refuses it.
    Refused,
}

/// The imports of each file read so far (`None`: not all of them could be worked out).
type Direct = HashMap<RepoPath, Option<Vec<Import>>>;

/// The import graph of one state of the repository, each file read and scanned at most once.
pub(crate) struct ImportGraph<'a> {
    files: &'a dyn SourceFiles,
    jpath: &'a [RepoPath],
    direct: Direct,
    exists: HashMap<RepoPath, bool>,
}

impl<'a> ImportGraph<'a> {
    /// The graph of `files`, with imports resolved through `jpath` as the evaluator does.
    pub(crate) fn new(files: &'a dyn SourceFiles, jpath: &'a [RepoPath]) -> Self {
        Self {
            files,
            jpath,
            direct: HashMap::new(),
            exists: HashMap::new(),
        }
    }

    /// Every file evaluating `entrypoint` can read or look for.
    pub(crate) fn reach(&mut self, entrypoint: &RepoPath) -> Result<Reach, SourceError> {
        let mut seen = BTreeSet::from([entrypoint.clone()]);
        let mut parsed = BTreeSet::new();
        let mut pending = vec![entrypoint.clone()];
        while let Some(file) = pending.pop() {
            if !parsed.insert(file.clone()) {
                continue;
            }
            let Some(imports) = self.imports_of(&file)? else {
                return Ok(Reach::Unknown);
            };
            let dir = file.as_str().rsplit_once('/').map_or("", |(dir, _)| dir);
            for import in imports {
                let (text, code) = match &import {
                    Import::Code(text) => (text, true),
                    Import::Data(text) => (text, false),
                };
                match self.resolve(dir, text, &mut seen)? {
                    Resolved::Found(found) if code => pending.push(found),
                    Resolved::Found(_) | Resolved::NotFound => {}
                    Resolved::Refused => return Ok(Reach::Unknown),
                }
            }
        }
        Ok(Reach::Known(seen))
    }

    /// Resolves `text` imported from a file in `dir`, adding every candidate looked for to
    /// `seen`.
    fn resolve(
        &mut self,
        dir: &str,
        text: &str,
        seen: &mut BTreeSet<RepoPath>,
    ) -> Result<Resolved, SourceError> {
        let bases: Vec<String> = std::iter::once(dir)
            .chain(self.jpath.iter().map(RepoPath::as_str))
            .map(str::to_owned)
            .collect();
        for base in bases {
            // The evaluator refuses the import at the first candidate that leaves the
            // repository, and the evaluation fails there.
            let Ok(candidate) = normalize(&base, text) else {
                return Ok(Resolved::Refused);
            };
            seen.insert(candidate.clone());
            if self.exists(&candidate)? {
                return Ok(Resolved::Found(candidate));
            }
        }
        Ok(Resolved::NotFound)
    }

    fn exists(&mut self, path: &RepoPath) -> Result<bool, SourceError> {
        if let Some(found) = self.exists.get(path) {
            return Ok(*found);
        }
        if self.direct.contains_key(path) {
            return Ok(true);
        }
        let found = match self.files.read(path) {
            Ok(bytes) => bytes.is_some(),
            // The evaluator refuses it: the evaluation fails there, which only evaluating the
            // target can report. Counted as present, so that its importer's reach includes it.
            Err(SourceError::Outside { .. }) => true,
            Err(error) => return Err(error),
        };
        self.exists.insert(path.clone(), found);
        Ok(found)
    }

    /// The imports of `file`, scanned once; `None` when they cannot all be worked out (or the
    /// file cannot be read inside the repository).
    fn imports_of(&mut self, file: &RepoPath) -> Result<Option<Vec<Import>>, SourceError> {
        if let Some(found) = self.direct.get(file) {
            return Ok(found.clone());
        }
        let imports = match self.files.read(file) {
            Ok(Some(bytes)) => scan(&String::from_utf8_lossy(&bytes)),
            // A missing entrypoint reads nothing more.
            Ok(None) => Some(Vec::new()),
            Err(SourceError::Outside { .. }) => None,
            Err(error) => return Err(error),
        };
        self.direct.insert(file.clone(), imports.clone());
        Ok(imports)
    }
}

/// The imports `text` names, in order; `None` when one of them is not a plain string literal
/// the evaluator would resolve inside the repository (an absolute path, escapes, a verbatim or
/// `|||` string, or no string at all).
fn scan(text: &str) -> Option<Vec<Import>> {
    import_literals(text)
        .into_iter()
        .map(|(keyword, path)| {
            let path = path.filter(|path| !path.starts_with('/'))?;
            Some(if keyword == SyntaxKind::IMPORT_KW {
                Import::Code(path)
            } else {
                Import::Data(path)
            })
        })
        .collect()
}

/// Each `import`, `importstr` or `importbin` keyword of `text`, in order, with the path it
/// names when that is a plain quoted literal without escapes (`None` when the keyword is
/// followed by anything else, another keyword or nothing). Comments and whitespace are
/// skipped; text inside strings is never a keyword. The one lexing of imports that the
/// static import graph and the evaluator's data-import bookkeeping share.
pub(crate) fn import_literals(text: &str) -> Vec<(SyntaxKind, Option<String>)> {
    let mut found = Vec::new();
    let mut pending: Option<SyntaxKind> = None;
    for lexeme in jrsonnet_lexer::Lexer::new(text) {
        let kind = SyntaxKind::from_raw(lexeme.kind.into_raw());
        match kind {
            SyntaxKind::WHITESPACE
            | SyntaxKind::SINGLE_LINE_SLASH_COMMENT
            | SyntaxKind::SINGLE_LINE_HASH_COMMENT
            | SyntaxKind::MULTI_LINE_COMMENT => continue,
            SyntaxKind::IMPORT_KW | SyntaxKind::IMPORTSTR_KW | SyntaxKind::IMPORTBIN_KW => {
                if let Some(keyword) = pending.replace(kind) {
                    found.push((keyword, None));
                }
                continue;
            }
            _ => {}
        }
        let Some(keyword) = pending.take() else {
            continue;
        };
        let path = matches!(kind, SyntaxKind::STRING_SINGLE | SyntaxKind::STRING_DOUBLE)
            .then(|| text.get(lexeme.range.0 as usize..lexeme.range.1 as usize))
            .flatten()
            .and_then(|quoted| quoted.get(1..quoted.len().checked_sub(1)?))
            .filter(|inner| !inner.contains('\\'))
            .map(str::to_owned);
        found.push((keyword, path));
    }
    // A keyword at the very end, with no path.
    if let Some(keyword) = pending {
        found.push((keyword, None));
    }
    found
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct Files(BTreeMap<&'static str, &'static str>);

    impl SourceFiles for Files {
        fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
            Ok(self
                .0
                .get(path.as_str())
                .map(|text| text.as_bytes().to_vec()))
        }
        fn list(&self, _dir: &str) -> Result<Vec<RepoPath>, SourceError> {
            Ok(Vec::new())
        }
    }

    fn path(text: &str) -> RepoPath {
        RepoPath::parse(text).unwrap()
    }

    fn reach(files: &[(&'static str, &'static str)], jpath: &[&str], entry: &str) -> Reach {
        let files = Files(files.iter().copied().collect());
        let jpath: Vec<RepoPath> = jpath.iter().map(|dir| path(dir)).collect();
        ImportGraph::new(&files, &jpath)
            .reach(&path(entry))
            .unwrap()
    }

    fn known(paths: &[&str]) -> Reach {
        Reach::Known(paths.iter().map(|p| path(p)).collect())
    }

    #[test]
    fn the_reach_follows_code_imports_and_counts_every_candidate_looked_for() {
        let found = reach(
            &[
                (
                    "envs/a/main.jsonnet",
                    "local l = import 'lib.libsonnet';\nlocal d = importstr \"data.txt\";\n// import 'commented.libsonnet'\nl + { d: d, s: 'import \"no.libsonnet\"' }",
                ),
                ("lib/lib.libsonnet", "import '../images/images.libsonnet'"),
                ("images/images.libsonnet", "{ api: 'api:1' }"),
                ("envs/a/data.txt", "import 'never-parsed.libsonnet'"),
            ],
            &["lib"],
            "envs/a/main.jsonnet",
        );
        assert_eq!(
            found,
            known(&[
                "envs/a/main.jsonnet",
                "envs/a/lib.libsonnet",
                "lib/lib.libsonnet",
                "images/images.libsonnet",
                "envs/a/data.txt",
            ])
        );
    }

    #[test]
    fn imports_that_cannot_be_worked_out_make_the_reach_unknown() {
        for main in [
            "import 'a\\u0041.libsonnet'",
            "import @'verbatim.libsonnet'",
            "import |||\n  block.libsonnet\n|||",
            "import '/etc/passwd'",
            "import '../../../above.libsonnet'",
            "import ''",
            "import ('computed' + '.libsonnet')",
            "local x = import",
        ] {
            assert_eq!(
                reach(&[("main.jsonnet", main)], &[], "main.jsonnet"),
                Reach::Unknown,
                "{main}"
            );
        }
    }

    #[test]
    fn a_missing_entrypoint_or_import_reaches_only_what_was_looked_for() {
        assert_eq!(
            reach(&[], &[], "envs/x/main.jsonnet"),
            known(&["envs/x/main.jsonnet"])
        );
        assert_eq!(
            reach(
                &[("main.jsonnet", "import 'gone.libsonnet'")],
                &["vendor"],
                "main.jsonnet"
            ),
            known(&["main.jsonnet", "gone.libsonnet", "vendor/gone.libsonnet"])
        );
    }

    #[test]
    fn an_import_cycle_ends() {
        assert_eq!(
            reach(
                &[
                    ("a.jsonnet", "import 'b.libsonnet'"),
                    ("b.libsonnet", "import 'a.jsonnet'")
                ],
                &[],
                "a.jsonnet"
            ),
            known(&["a.jsonnet", "b.libsonnet"])
        );
    }
}
