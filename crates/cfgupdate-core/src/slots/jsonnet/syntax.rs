//! A Jsonnet file checked once: its tokens, where its lines start, and (only when a slot needs
//! it) its lossless tree.
//!
//! Validity is decided by `jrsonnet-ir-parser`, the parser the evaluator itself runs, which
//! reads a 1 MB file in about a third of the time `jrsonnet-rowan-parser` takes to build its
//! tree. The tree is built on first use: markers are found and judged in the token stream, so
//! a file whose slots are all marked never needs it (see `docs/benchmarks.md`).

use std::cell::OnceCell;
use std::ops::Range;

use jrsonnet_rowan_parser::nodes::SourceFile;
use jrsonnet_rowan_parser::{SyntaxKind, SyntaxToken};

use super::JsonnetSlotError;
use crate::render::nesting::{self, MAX_DEPTH};

/// One token, as the lexer sees it. The parser is fed only the sequence of these kinds, so two
/// texts with the same kinds parse to the same tree: editing checks that cheaply (see
/// `edit.rs`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub(super) kind: SyntaxKind,
    pub(super) start: u32,
    pub(super) end: u32,
}

impl Token {
    pub(super) fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Splits `text` into tokens.
pub(super) fn lex(text: &str) -> Vec<Token> {
    jrsonnet_lexer::Lexer::new(text)
        .map(|lexeme| Token {
            kind: SyntaxKind::from_raw(lexeme.kind.into_raw()),
            start: lexeme.range.0,
            end: lexeme.range.1,
        })
        .collect()
}

/// Where each line starts, for 1-based line numbers in messages and slots.
pub(super) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

/// A file that parsed without errors.
pub(super) struct Source<'t> {
    pub(super) file: &'t str,
    pub(super) text: &'t str,
    pub(super) tokens: Vec<Token>,
    /// The bound of its tree's depth (`render::nesting`).
    depth: usize,
    /// Built on first use: editing a file whose slots are all marked never needs it.
    tree: OnceCell<Result<SourceFile, JsonnetSlotError>>,
    /// Computed on first use: writing a file whose slots all succeed never needs a line.
    lines: OnceCell<Lines>,
}

impl<'t> Source<'t> {
    /// Lexes and checks `text`, refusing it at the first syntax error; the tree is built
    /// later, if at all.
    #[cfg(test)]
    pub(super) fn parse(file: &'t str, text: &'t str) -> Result<Self, JsonnetSlotError> {
        Self::parse_for(file, text, |_| false)
    }

    /// Lexes and checks `text`, building the tree at once when `wants_tree` says the caller
    /// will need it: its parser then decides validity, and the evaluator's parser, which would
    /// add its time to the tree's, is not run.
    pub(super) fn parse_for(
        file: &'t str,
        text: &'t str,
        wants_tree: impl FnOnce(&Self) -> bool,
    ) -> Result<Self, JsonnetSlotError> {
        if u32::try_from(text.len()).is_err() {
            return Err(JsonnetSlotError {
                file: file.to_owned(),
                line: 1,
                message: "the file is larger than 4 GiB, which the Jsonnet parser cannot read"
                    .to_owned(),
            });
        }
        let tokens = std::panic::catch_unwind(|| lex(text)).map_err(|_| gave_up(file))?;
        // The parsers recurse along the tree, and a stack overflow cannot be caught: refuse a
        // tree deeper than any real configuration before they get the chance (the bound
        // counts every recursive production: `docs/rendering.md`).
        let depth = nesting::check_tokens(
            tokens
                .iter()
                .map(|token| (token.kind, token.start as usize)),
            MAX_DEPTH,
        );
        let depth = match depth {
            Ok(depth) => depth,
            Err(too_deep) => {
                return Err(JsonnetSlotError {
                    file: file.to_owned(),
                    line: Lines::new(text).line(too_deep.offset),
                    message: format!(
                        "the file nests more than {MAX_DEPTH} levels deep here (brackets, operators and chained `local`/`if`/`function`/`assert`/`error`), deeper than cfgupdate parses"
                    ),
                });
            }
        };
        let source = Source {
            file,
            text,
            depth,
            tokens,
            tree: OnceCell::new(),
            lines: OnceCell::new(),
        };
        if let Some(token) = source
            .tokens
            .iter()
            .find(|token| token.kind.error_description().is_some())
        {
            let what = token.kind.error_description().unwrap_or("invalid token");
            return Err(source.invalid(token.start as usize, what));
        }
        if wants_tree(&source) {
            source.tree()?;
        } else if let Some((offset, what)) = grammar_error(file, text)? {
            return Err(source.invalid(offset, &what));
        }
        Ok(source)
    }

    /// The lossless tree, built on first use. The tree parser recovers from errors, and a slot
    /// found in a recovered tree could be anywhere, so a file it finds an error in is refused
    /// even though the evaluator's parser accepted it.
    pub(super) fn tree(&self) -> Result<&SourceFile, JsonnetSlotError> {
        self.tree
            .get_or_init(|| {
                // The parser panics rather than fail on some inputs: it gives up ("parsing is
                // stuck") after 15 million steps, which a file of about 16 MB reaches. A file
                // from the repository must never bring the process down.
                // It recurses along the tree too: on a stack of its own, whatever thread edits.
                let (text, depth) = (self.text, self.depth);
                let (tree, errors) = std::panic::catch_unwind(move || {
                    on_enough_stack(depth, || jrsonnet_rowan_parser::parse(text))
                })
                .map_err(|_| gave_up(self.file))?;
                match errors.iter().min_by_key(|error| error.range.start()) {
                    Some(error) => {
                        let error = self
                            .invalid(usize::from(error.range.start()), &error.error.to_string());
                        // A refused tree is dropped here, not by `Source`'s `Drop`: dropping
                        // recurses along it as building it did, so on a stack as large.
                        on_enough_stack(depth, move || drop(tree));
                        Err(error)
                    }
                    None => Ok(tree),
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The error for a syntax error at byte `offset`.
    fn invalid(&self, offset: usize, what: &str) -> JsonnetSlotError {
        self.error(offset, format!("the file is not valid Jsonnet: {what}"))
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.lines
            .get_or_init(|| Lines::new(self.text))
            .line(offset)
    }

    /// An error at byte `offset`.
    pub(super) fn error(&self, offset: usize, message: String) -> JsonnetSlotError {
        JsonnetSlotError {
            file: self.file.to_owned(),
            line: self.line(offset),
            message,
        }
    }

    /// The index of the token starting at byte `offset`.
    pub(super) fn token_index(&self, offset: usize) -> Option<usize> {
        let index = self
            .tokens
            .partition_point(|token| (token.start as usize) < offset);
        (self.tokens.get(index)?.start as usize == offset).then_some(index)
    }

    /// The tree's token for the lexer token `index`. Found by binary search down the tree
    /// (`covering_element`), not by `token_at_offset`, which scans children one by one and
    /// made a thousand lookups in a wide object cost more than parsing.
    pub(super) fn tree_token(&self, index: usize) -> Result<Option<SyntaxToken>, JsonnetSlotError> {
        use jrsonnet_rowan_parser::AstNode;
        use jrsonnet_rowan_parser::rowan::{TextRange, TextSize};
        let root = self.tree()?.syntax();
        let Some(token) = self.tokens.get(index) else {
            return Ok(None);
        };
        let range = TextRange::new(TextSize::from(token.start), TextSize::from(token.end));
        if !root.text_range().contains_range(range) {
            return Ok(None);
        }
        Ok(root
            .covering_element(range)
            .into_token()
            .filter(|found| found.text_range() == range))
    }

    /// A short excerpt of the source at `range`, for messages: its first line, at most 60
    /// characters.
    pub(super) fn excerpt(&self, range: Range<usize>) -> String {
        let text = self.text.get(range).unwrap_or_default();
        let first_line = text.lines().next().unwrap_or_default().trim_end();
        let mut excerpt: String = first_line.chars().take(60).collect();
        if excerpt.len() < text.trim_end().len() {
            excerpt.push_str("...");
        }
        excerpt
    }
}

impl Drop for Source<'_> {
    fn drop(&mut self) {
        // Dropping the tree recurses along it as building it did: on a stack as large.
        if let Some(tree) = self.tree.take() {
            on_enough_stack(self.depth, move || drop(tree));
        }
    }
}

/// How much stack each parser gets. They recurse once per level of the tree, and their frames
/// are large: on the 2 MiB of a spawned thread a release build overflowed at between 600 and
/// 1,000 chained `local`s, a debug build at under 50 nested brackets. Files are refused beyond
/// [`MAX_DEPTH`]; the figures for that depth are in `docs/rendering.md`. Only the pages touched
/// are ever committed.
const PARSER_STACK: usize = 256 << 20;

/// Stack a parser may take per level of the depth bound, in a debug build (a release build
/// takes a fraction).
const STACK_PER_LEVEL: usize = 32 << 10;

/// Runs `f`, which recurses along a tree of depth at most `depth`, on the current stack when
/// enough of it is left, else on a fresh stack of [`PARSER_STACK`] bytes. Switching costs a
/// mapping of that size; most files are shallow enough not to need it.
fn on_enough_stack<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    let needed = depth
        .saturating_mul(STACK_PER_LEVEL)
        .saturating_add(256 << 10);
    stacker::maybe_grow(needed, PARSER_STACK, f)
}

/// The first grammatical error in `text`, as the evaluator's parser finds it: the offset and
/// what is wrong. The parser runs on a stack of [`PARSER_STACK`] bytes switched to on this
/// thread (a thread of its own would allocate its tree from a fresh heap arena, which doubled
/// its time).
fn grammar_error(file: &str, text: &str) -> Result<Option<(usize, String)>, JsonnetSlotError> {
    std::panic::catch_unwind(|| {
        stacker::grow(PARSER_STACK, || {
            let settings = jrsonnet_ir_parser::ParserSettings {
                source: jrsonnet_ir::Source::new_virtual(file.into(), text.into()),
            };
            jrsonnet_ir_parser::parse(text, &settings)
                .err()
                .map(|error| (error.location.1 as usize, error.message))
        })
    })
    // A panic in the parser must not bring the process down: a repository file is input.
    .map_err(|_| gave_up(file))
}

fn gave_up(file: &str) -> JsonnetSlotError {
    JsonnetSlotError {
        file: file.to_owned(),
        line: 1,
        message:
            "the Jsonnet parser gave up on this file, which is too large or too deeply nested to edit"
                .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one_and_crlf_counts_once() {
        let lines = Lines::new("a\r\nb\nc");
        assert_eq!(lines.line(0), 1);
        assert_eq!(lines.line(2), 1);
        assert_eq!(lines.line(3), 2);
        assert_eq!(lines.line(6), 3);
    }

    #[test]
    fn a_syntax_error_is_reported_with_its_line_even_though_the_parser_recovers() {
        let error = Source::parse("f.jsonnet", "{\n  a: 'x',\n  b: ,\n}\n")
            .err()
            .unwrap();
        assert_eq!((error.file.as_str(), error.line), ("f.jsonnet", 3));
        assert!(error.message.contains("not valid Jsonnet"), "{error}");
    }

    #[test]
    fn nesting_deep_enough_to_overflow_the_parsers_stack_is_refused_not_a_crash() {
        let text = format!(
            "{{\n  a: {}1{},\n}}\n",
            "[".repeat(20_000),
            "]".repeat(20_000)
        );
        let error = Source::parse("f.jsonnet", &text).err().unwrap();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("nests more than"), "{error}");
        let fine = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(Source::parse("f.jsonnet", &fine).is_ok());
    }

    #[test]
    fn an_unterminated_string_is_a_syntax_error() {
        let error = Source::parse("f.jsonnet", "{\n  a: 'x,\n}\n")
            .err()
            .unwrap();
        assert_eq!(error.line, 2, "{error}");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    #[test]
    fn an_unterminated_string_where_a_field_name_belongs_is_a_syntax_error_not_a_parser_crash() {
        // Found by the `jsonnet_edit` fuzz target: `{'` made the tree parser panic
        // ("already at end"), which surfaced as "the parser gave up".
        for text in ["{'", "{\r'\n}", "{ a: 1, '"] {
            let error = Source::parse_for("f.jsonnet", text, |_| true)
                .err()
                .unwrap();
            assert!(
                error.message.contains("not valid Jsonnet"),
                "{text:?}: {}",
                error.message
            );
            assert!(
                !error.message.contains("gave up"),
                "{text:?}: {}",
                error.message
            );
        }
    }
}
