//! Image slots in Jsonnet files, found in the token stream and, where a slot needs it, a
//! lossless syntax tree; only the bytes of the literals written change.
//!
//! A slot for service `S` is (docs/contract.md#image-references-and-slots):
//!
//! 1. a **marker**: a comment `cfgupdate: S` (or `S:ref`, `S:name`, `S:tag`, `S:digest`) marks
//!    the last string literal that ends before it on its line. Every marker of `S` is a slot. A
//!    comment whose text starts with `cfgupdate:` but names no valid service and part is an
//!    error, as is a marker with no literal before it on its line, or one that marks a field
//!    name, an import path, a `|||` text block, or an operand of an operator
//!    (`'reg/api:' + tag`): cfgupdate edits only whole literals.
//! 2. where the file has no marker for `S`, a **field** named `S` of the object the file
//!    evaluates to, followed through `local` bindings, parentheses and `a + {...}` (see
//!    `fields.rs`). Its value is a string literal (the whole reference) or an object literal
//!    whose `ref`, `name`, `tag` and `digest` fields are each a slot of that part.
//!
//! **What a slot is** is decided once, for reading ([`find_slots`]) and writing ([`apply`])
//! alike (see `docs/slots.md`): a field whose value is a string literal that looks like a
//! whole reference (a tag or a digest) or is empty, or an object literal whose fields are all
//! among `ref`, `name`, `tag`, `digest` and include one of `ref`, `tag`, `digest` (`fields.rs`).
//! So `namespace: 'default'` or `metadata: {name: 'x'}` never enter an image set, and an object
//! with other fields (Renovate's `{image: ..., tag: ...}`) is refused by name when written. A
//! slot is written only where its value looks like the part it holds (`looks.rs`; an empty
//! literal is a placeholder) and its surroundings use it as it is: never inside `%`,
//! `std.format` or `std.join`, as a `.new(...)` call's name, or as an `error` message
//! (`context.rs`). A tag pinned with its digest (`1.2.3@sha256:...`) is written the same way.
//!
//! **Writing** ([`apply`]) looks, for each service asked for, at its markers, or else at its
//! field: a field cfgupdate cannot write is an error naming it, never a silent skip; a marker
//! whose literal is refused stops its own service (a malformed marker, the whole file). Only
//! the bytes inside the edited literals change; the new value is escaped for the literal's
//! quote style (`'...'`, `"..."`, `@'...'`, `@"..."`); the result is checked to have the
//! original's tokens and bytes everywhere else, and each edited literal to read back as the
//! value written (see `edit.rs` for why re-lexing proves the re-parse).
//!
//! **Validity** is decided by the evaluator's own parser (`syntax.rs`); the lossless tree is
//! built only for a field slot, or for a marked literal whose neighbours do not show it whole
//! (`whole.rs`), and a file it finds an error in is refused then. So a file with marked slots
//! only costs a lex and the evaluator's parse, not a tree.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::{ImageSet, SlotError};
use crate::names::ServiceName;
use crate::reference::{ImageRef, Part};

mod context;
mod edit;
mod fields;
mod literal;
mod looks;
mod markers;
mod syntax;
#[cfg(test)]
mod tests;
mod whole;

use literal::{StringToken, Style};
use syntax::Source;

/// Why a Jsonnet file could not be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct JsonnetSlotError {
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// How a slot was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A `cfgupdate: S` comment marks it.
    Marker,
    /// It is a field of the object the file evaluates to.
    Field,
}

/// One image slot in a Jsonnet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The service it belongs to.
    pub service: ServiceName,
    /// Which part of the reference it holds.
    pub part: Part,
    /// How it was found.
    pub kind: SlotKind,
    /// Its 1-based line.
    pub line: usize,
    /// The literal's current value, unescaped; `None` when the slot's value is not a string
    /// literal (it can then be neither read nor written).
    pub value: Option<String>,
}

impl Slot {
    /// Whether writing this slot keeps a reference's digest: a whole reference, a digest, or
    /// a tag pinned with its digest (`1.2.3@sha256:...`, which is written the same way).
    pub fn carries_digest(&self) -> bool {
        match self.part {
            Part::Ref | Part::Digest => true,
            Part::Tag => self
                .value
                .as_deref()
                .is_some_and(|value| value.contains('@')),
            Part::Name => false,
        }
    }

    /// The parts this slot's value holds: `(Tag, "1.2.3")` and `(Digest, "sha256:...")` for a
    /// pinned tag, its own part and value otherwise; nothing for an empty placeholder or a
    /// value that is not a literal.
    pub fn parts(&self) -> Vec<(Part, &str)> {
        match self.value.as_deref() {
            None | Some("") => Vec::new(),
            Some(value) if self.part == Part::Tag => match looks::split_pinned_tag(value) {
                Some((tag, Some(digest))) => vec![(Part::Tag, tag), (Part::Digest, digest)],
                _ => vec![(Part::Tag, value)],
            },
            Some(value) => vec![(self.part, value)],
        }
    }
}

/// The result of writing into one Jsonnet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The new text of the file.
    pub text: String,
    /// The services that had at least one slot in the file (written, or already holding the value).
    pub written: BTreeSet<ServiceName>,
    /// Those of `written` with a slot here that holds the digest: a whole reference, a digest,
    /// or a tag pinned with its digest. A service none of whose slots in a wave is one of
    /// these loses its digest when written (see [`Slot::carries_digest`]).
    pub carried: BTreeSet<ServiceName>,
}

/// Every slot in a Jsonnet file: all markers, then fields of the evaluated object for the
/// services that have no marker.
pub fn find_slots(file: &str, text: &str) -> Result<Vec<Slot>, SlotError> {
    // Validity is the evaluator's parser's verdict (`valid_source`); fields are looked for in
    // every file read, so the tree is then built too, and its errors refuse the file as well.
    let source = valid_source(file, text)?;
    let markers = markers::find(&source)?;
    let marked: BTreeSet<&ServiceName> = markers.iter().map(|site| &site.service).collect();
    let fields = fields::TopFields::collect(&source)?
        .for_reading(&source, |service| marked.contains(service));
    Ok(markers
        .iter()
        .chain(&fields)
        .map(|site| site.to_slot(&source))
        .collect())
}

/// Writes those `updates` whose service has a slot in this file; services without a slot here
/// are left for the caller (another file may hold them).
pub fn apply(file: &str, text: &str, updates: &ImageSet) -> Result<Applied, SlotError> {
    let spelled = OnceCell::new();
    let source = valid_source(file, text)?;
    let scan = markers::scan(&source);
    // A marker whose literal is refused stops only its own service: a file where a marker
    // sits on a container name can still have its other services written (`check` and
    // reading report the refused marker). A malformed marker stops the whole file, since
    // which service it meant is unknown.
    let mut markers: BTreeMap<ServiceName, Vec<Site>> = BTreeMap::new();
    let mut refused: BTreeMap<ServiceName, JsonnetSlotError> = BTreeMap::new();
    let (judged, malformed) = scan.judge_each(&source)?;
    if let Some(error) = malformed {
        // The first error in file order, as reading reports it.
        let first = judged.into_iter().find_map(|(_, site)| site.err());
        return Err(first.unwrap_or(error).into());
    }
    for (service, site) in judged {
        match site {
            Ok(site) => markers.entry(service).or_default().push(site),
            Err(error) => {
                refused.entry(service).or_insert(error);
            }
        }
    }
    let mut top_fields: Option<fields::TopFields> = None;
    let mut edits = Vec::new();
    let mut written = BTreeSet::new();
    let mut carried = BTreeSet::new();
    for (service, reference) in updates {
        if let Some(error) = refused.remove(service) {
            return Err(error.into());
        }
        let field_sites;
        let sites = match markers.get(service) {
            Some(sites) => sites,
            // Only a file that spells the name somewhere can have the field, and only then is
            // the tree built: a file holding some of a wave's services need not be parsed for
            // the others.
            None if !spelled
                .get_or_init(|| fields::spelled_names(&source))
                .contains(service.as_str()) =>
            {
                continue;
            }
            None => {
                let top = match &mut top_fields {
                    Some(top) => top,
                    None => top_fields.insert(fields::TopFields::collect(&source)?),
                };
                field_sites = top.for_writing(&source, service);
                &field_sites
            }
        };
        if sites.is_empty() {
            continue;
        }
        if reference.digest().is_none() {
            return Err(SlotError::MissingDigest {
                service: service.clone(),
                reference: reference.clone(),
            });
        }
        for site in sites {
            let Some(value) = site.value_for(reference) else {
                return Err(SlotError::MissingPart {
                    file: file.to_owned(),
                    line: source.line(site.offset),
                    service: service.clone(),
                    part: site.part,
                    reference: reference.clone(),
                });
            };
            match &site.holder {
                Holder::Literal(literal) => edits.push(edit::Edit {
                    token: literal.token,
                    content: literal.content.clone(),
                    style: literal.style,
                    unchanged: literal.value == value,
                    value,
                    service: service.clone(),
                }),
                Holder::Other { found } => {
                    let field = match site.part {
                        Part::Ref => format!("the field `{service}`"),
                        part => format!("the `{part}` field of `{service}`"),
                    };
                    return Err(source
                        .error(
                            site.offset,
                            format!(
                                "{field} holds {found}, so service `{service}` cannot be written; cfgupdate writes only whole string literals that look like the part they hold (a `cfgupdate: {service}` comment can mark the literal to write)"
                            ),
                        )
                        .into());
                }
            }
        }
        if sites.iter().any(Site::carries_digest) {
            carried.insert(service.clone());
        }
        written.insert(service.clone());
    }
    // A literal marked for a service not written here is that service's image too: changing
    // it would change an image nobody announced (and leave its slot holding another part).
    let others: std::collections::HashMap<usize, (&ServiceName, &Site)> = markers
        .iter()
        .filter(|(service, _)| !updates.contains_key(*service))
        .flat_map(|(service, sites)| {
            sites.iter().filter_map(move |site| match &site.holder {
                Holder::Literal(literal) => Some((literal.token, (service, site))),
                Holder::Other { .. } => None,
            })
        })
        .collect();
    for edit in edits.iter().filter(|edit| !edit.unchanged) {
        let other = others.get(&edit.token);
        if let Some((other, site)) = other {
            return Err(source
                .error(
                    edit.content.start,
                    format!(
                        "the string literal written for service `{}` is also marked for service `{other}` (line {}), which is not being written; a literal holds one service's image",
                        edit.service,
                        source.line(site.offset)
                    ),
                )
                .into());
        }
    }
    let text = edit::rewrite(&source, edits)?;
    Ok(Applied {
        text,
        written,
        carried,
    })
}

/// `text` lexed and checked by the evaluator's own parser, the parser that renders it: a file
/// is valid Jsonnet exactly when that parser accepts it. The lossless tree is built later, only
/// if a slot needs it, and a file its parser finds an error in is refused then too (a slot in
/// a recovered tree could be anywhere). Letting the tree's parser decide alone, to save the
/// other parse, accepted files the evaluator refuses (an invalid escape such as `'\o'`, found
/// by fuzzing), so both decide when both run.
fn valid_source<'t>(file: &'t str, text: &'t str) -> Result<Source<'t>, SlotError> {
    Ok(Source::parse_for(file, text, |_| false)?)
}

/// A slot as found, with what it needs for writing.
struct Site {
    service: ServiceName,
    part: Part,
    kind: SlotKind,
    /// Where it is, for its line.
    offset: usize,
    holder: Holder,
}

/// What a slot's value is in the file.
enum Holder {
    /// A quoted string literal cfgupdate can rewrite.
    Literal(Literal),
    /// Anything else; `found` says what, for messages.
    Other { found: String },
}

struct Literal {
    /// The lexer token.
    token: usize,
    style: Style,
    /// The content bytes, without quotes.
    content: Range<usize>,
    /// The content, unescaped.
    value: String,
}

impl Site {
    /// What this slot gets of `reference`: its part, except that a tag slot pinned the way
    /// Renovate writes it (`1.2.3@sha256:...`) keeps its pin, the new tag with the new digest.
    fn value_for(&self, reference: &ImageRef) -> Option<String> {
        let value = reference.part(self.part)?;
        match (&self.holder, self.part) {
            (Holder::Literal(literal), Part::Tag) if literal.value.contains('@') => {
                Some(format!("{value}@{}", reference.digest()?))
            }
            _ => Some(value.to_owned()),
        }
    }

    fn carries_digest(&self) -> bool {
        match (&self.holder, self.part) {
            (_, Part::Ref | Part::Digest) => true,
            (Holder::Literal(literal), Part::Tag) => literal.value.contains('@'),
            _ => false,
        }
    }

    fn to_slot(&self, source: &Source<'_>) -> Slot {
        Slot {
            service: self.service.clone(),
            part: self.part,
            kind: self.kind,
            line: source.line(self.offset),
            value: match &self.holder {
                Holder::Literal(literal) => Some(literal.value.clone()),
                Holder::Other { .. } => None,
            },
        }
    }
}

/// The string token `index` as a slot's holder; `Err` says why a quoted literal is unusable.
fn literal_at(source: &Source<'_>, index: usize) -> Result<Holder, String> {
    let token = source.tokens[index];
    match StringToken::of_kind(token.kind) {
        Some(StringToken::Quoted(style)) => {
            let content = style.content_range(token.range());
            let value = source
                .text
                .get(content.clone())
                .and_then(|text| style.unescape(text))
                .ok_or_else(|| "a string literal with an invalid escape sequence".to_owned())?;
            Ok(Holder::Literal(Literal {
                token: index,
                style,
                content,
                value,
            }))
        }
        Some(StringToken::Block) => Ok(Holder::Other {
            found: "a text block (`|||`)".to_owned(),
        }),
        None => Ok(Holder::Other {
            found: "no string literal".to_owned(),
        }),
    }
}
