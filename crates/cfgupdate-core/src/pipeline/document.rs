//! Typed access to the spanned TOML document, with errors that name the file, the line, the
//! key and the table it sits in.
//!
//! The file is read through `toml::de::DeTable`, the spanned tree that toml's serde
//! deserializer is built on, rather than through `#[derive(Deserialize)]` structs: serde's
//! errors know neither the table a key sits in (which wave?) nor, for a wrong type, the key's
//! name, and both belong in the sentence a person reads.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::PipelineError;
use crate::path::RepoPath;

/// Byte offsets into the pipeline file.
pub(super) type Span = Range<usize>;

/// The pipeline file's name and text: turns byte offsets into line numbers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> Source<'a> {
    pub(super) fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error on the line where `span` starts.
    pub(super) fn error_at(&self, span: &Span, detail: impl fmt::Display) -> PipelineError {
        PipelineError::new(self.file, Some(self.line(span.start)), detail.to_string())
    }

    /// An error about the file as a whole.
    pub(super) fn error(&self, detail: impl fmt::Display) -> PipelineError {
        PipelineError::new(self.file, None, detail.to_string())
    }

    /// toml's own `Display` spans several lines with a snippet of the file; a person reading
    /// a log or an HTTP answer needs one sentence with the place in front.
    pub(super) fn syntax_error(&self, error: &toml::de::Error) -> PipelineError {
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let Some(span) = error.span() else {
            return self.error(format_args!("invalid TOML: {message}"));
        };
        let start = span.start.min(self.text.len());
        let line_start = self.text.as_bytes()[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |newline| newline + 1);
        let column = self
            .text
            .get(line_start..start)
            .map_or(1, |before| before.chars().count() + 1);
        let snippet = self
            .text
            .get(span)
            .filter(|s| !s.is_empty() && s.len() <= 40 && !s.contains(['\n', '`']))
            .map(|s| format!(" at `{s}`"))
            .unwrap_or_default();
        PipelineError::new(
            self.file,
            Some(self.line(start)),
            format!("invalid TOML at column {column}: {message}{snippet}"),
        )
    }
}

/// The table a key sits in, as a person would point at it in the file.
#[derive(Debug, Clone)]
pub(super) enum Place {
    Top,
    Render,
    Strict,
    Wave {
        number: usize,
        name: Option<String>,
    },
    Target(String),
    /// One entry (1-based) of a wave's `freeze` list.
    Freeze {
        wave: String,
        entry: usize,
    },
}

impl Place {
    /// "in [render]", or "at the top level of the file".
    pub(super) fn within(&self) -> String {
        match self {
            Place::Top => "at the top level of the file".to_owned(),
            other => format!("in {other}"),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Top => f.write_str("the top level of the file"),
            Place::Render => f.write_str("[render]"),
            Place::Strict => f.write_str("[strict]"),
            Place::Wave {
                name: Some(name), ..
            } => write!(f, "[[wave]] \"{name}\""),
            Place::Wave { number, name: None } => write!(f, "[[wave]] number {number}"),
            Place::Freeze { wave, entry } => {
                write!(f, "entry {entry} of `freeze` in [[wave]] \"{wave}\"")
            }
            Place::Target(name) => {
                let bare = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if bare {
                    write!(f, "[target.{name}]")
                } else {
                    write!(f, "[target.{name:?}]")
                }
            }
        }
    }
}

/// What a value turned out to be, for "must be X; found Y".
pub(super) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(i) => format!("the integer {}", i.as_str()),
        DeValue::Float(x) => format!("the float {}", x.as_str()),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the date-time {d}"),
        DeValue::Array(items) if items.is_empty() => "an empty array".to_owned(),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(table) if table.is_empty() => "an empty table".to_owned(),
        DeValue::Table(table) => {
            let mut keys: Vec<_> = table.iter().map(|(k, _)| k).collect();
            keys.sort_by_key(|k| k.span().start);
            let keys: Vec<&str> = keys.iter().map(|k| k.get_ref().as_ref()).collect();
            let noun = if keys.len() == 1 { "key" } else { "keys" };
            format!("a table with {noun} {}", keys.join(", "))
        }
    }
}

/// One TOML table and where it is.
#[derive(Debug, Clone)]
pub(super) struct Table<'d, 'i> {
    src: Source<'d>,
    place: Place,
    /// Prepended to key names, so that a nested table's keys read `images.tags`.
    prefix: String,
    span: Span,
    entries: &'d DeTable<'i>,
}

impl<'d, 'i> Table<'d, 'i> {
    pub(super) fn new(src: Source<'d>, place: Place, span: Span, entries: &'d DeTable<'i>) -> Self {
        Self {
            src,
            place,
            prefix: String::new(),
            span,
            entries,
        }
    }

    /// Where the table starts: its `[header]`, or the inline table.
    pub(super) fn span(&self) -> Span {
        self.span.clone()
    }

    pub(super) fn place(&self) -> &Place {
        &self.place
    }

    pub(super) fn src(&self) -> Source<'d> {
        self.src
    }

    /// Refuses the first key, in file order, that is not one of `allowed`.
    pub(super) fn check_keys(&self, allowed: &[&str]) -> Result<(), PipelineError> {
        let unknown = self
            .entries
            .iter()
            .map(|(key, _)| key)
            .filter(|key| !allowed.contains(&key.get_ref().as_ref()))
            .min_by_key(|key| key.span().start);
        match unknown {
            None => Ok(()),
            Some(key) => Err(self.src.error_at(
                &key.span(),
                format_args!(
                    "unknown key `{}{}` {}; expected one of {}",
                    self.prefix,
                    key.get_ref(),
                    self.place.within(),
                    allowed.join(", ")
                ),
            )),
        }
    }

    /// The value under `key`, if the table has it.
    pub(super) fn get(&self, key: &str) -> Option<Value<'d, 'i>> {
        self.entries
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(k, v)| self.value(k, v))
    }

    /// Every entry, in file order.
    pub(super) fn entries(&self) -> Vec<(&'d str, Span, Value<'d, 'i>)> {
        let mut entries: Vec<_> = self
            .entries
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), self.value(k, v)))
            .collect();
        entries.sort_by_key(|(_, span, _)| span.start);
        entries
    }

    fn value(
        &self,
        key: &Spanned<toml::de::DeString<'i>>,
        value: &'d Spanned<DeValue<'i>>,
    ) -> Value<'d, 'i> {
        Value {
            src: self.src,
            place: self.place.clone(),
            name: format!("{}{}", self.prefix, key.get_ref()),
            value,
        }
    }
}

/// A value under a named key, ready to be read as the type the pipeline file expects.
#[derive(Debug, Clone)]
pub(super) struct Value<'d, 'i> {
    src: Source<'d>,
    place: Place,
    name: String,
    value: &'d Spanned<DeValue<'i>>,
}

impl<'d, 'i> Value<'d, 'i> {
    pub(super) fn span(&self) -> Span {
        self.value.span()
    }

    pub(super) fn src(&self) -> Source<'d> {
        self.src
    }

    pub(super) fn raw(&self) -> &'d DeValue<'i> {
        self.value.get_ref()
    }

    /// "`approval` in [[wave]] "production"": the subject of a sentence about this value.
    pub(super) fn subject(&self) -> String {
        format!("`{}` {}", self.name, self.place.within())
    }

    /// An error on this value's line.
    pub(super) fn error(&self, detail: impl fmt::Display) -> PipelineError {
        self.src.error_at(&self.span(), detail)
    }

    /// "`key` in [table] must be EXPECTED; found WHAT".
    pub(super) fn type_error(&self, expected: &str) -> PipelineError {
        self.error(format_args!(
            "{} must be {expected}; found {}",
            self.subject(),
            describe(self.raw())
        ))
    }

    pub(super) fn string(&self) -> Result<&'d str, PipelineError> {
        match self.raw() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.type_error("a string")),
        }
    }

    pub(super) fn boolean(&self) -> Result<bool, PipelineError> {
        match self.raw() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.type_error("a boolean (true or false)")),
        }
    }

    /// An array whose items are all strings, each with its span.
    pub(super) fn strings(&self) -> Result<Vec<(&'d str, Span)>, PipelineError> {
        let DeValue::Array(items) = self.raw() else {
            return Err(self.type_error("an array of strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| match item.get_ref() {
                DeValue::String(s) => Ok((s.as_ref(), item.span())),
                other => Err(self.src.error_at(
                    &item.span(),
                    format_args!(
                        "{} must be an array of strings; item {} is {}",
                        self.subject(),
                        index + 1,
                        describe(other)
                    ),
                )),
            })
            .collect()
    }

    /// A table whose values are all strings; `why` completes "must be a string".
    pub(super) fn string_map(&self, why: &str) -> Result<BTreeMap<String, String>, PipelineError> {
        let table = self.table()?;
        table
            .entries()
            .into_iter()
            .map(|(key, _, value)| match value.raw() {
                DeValue::String(s) => Ok((key.to_owned(), s.to_string())),
                _ => Err(value.type_error(&format!("a string{why}"))),
            })
            .collect()
    }

    /// This value as a table nested in the current one: its keys read `name.key`.
    pub(super) fn table(&self) -> Result<Table<'d, 'i>, PipelineError> {
        match self.raw() {
            DeValue::Table(entries) => Ok(Table {
                src: self.src,
                place: self.place.clone(),
                prefix: format!("{}.", self.name),
                span: self.span(),
                entries,
            }),
            _ => Err(self.type_error("a table")),
        }
    }

    /// A string that must be a path inside the repository.
    pub(super) fn repo_path(&self) -> Result<RepoPath, PipelineError> {
        let text = self.string()?;
        RepoPath::parse(text).map_err(|err| {
            self.error(format_args!(
                "{} is `{}`, which is not a path inside the repository: {}",
                self.subject(),
                crate::shown::shown(text),
                err.reason
            ))
        })
    }
}
