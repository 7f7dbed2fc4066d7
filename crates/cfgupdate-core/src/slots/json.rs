//! JSON image files and the two-file layout (docs/contract.md#image-references-and-slots).
//!
//! An image file is an object from service to reference: either a string (the whole
//! reference) or an object whose keys are among `ref`, `name`, `tag` and `digest`. The
//! two-file layout splits a wave's image set into a tags file (service to `name:tag`) and a
//! digests file (service to `name@digest`), the payload fields `Tag` and `Digest` of the
//! original design's CI, verbatim.
//!
//! Editing is lossless: the scanner records where every key and value lies, an edit replaces
//! only the characters between the quotes of the literals it writes, and a new service is
//! inserted after the last member in the file's own style. Every edit is read back and checked
//! before it is returned.
//!
//! Top-level keys that begin with `$`, `_` or `/` (`"$schema"`, `"_comment"`, `"//"`) can never
//! be service names; they are kept as annotations and never read as services.

mod edit;
mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::{ImageSet, SlotError};
use crate::names::ServiceName;
use crate::reference::{Digest, ImageRef, JoinError, Part, ReferenceError};
use edit::edit;
use scan::{Kind, Node};

/// Why a JSON image file could not be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct JsonSlotError {
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads the image set of a JSON image file.
///
/// An object entry's parts are combined into one reference. Errors: a syntax or shape error
/// ([`SlotError::Json`], with file and line), a value that is not a valid reference or part
/// ([`SlotError::InvalidStored`]), a `ref` and parts that disagree ([`SlotError::Inconsistent`]).
pub fn read(file: &str, text: &str) -> Result<ImageSet, SlotError> {
    let document = Document::scan(file, text, Layout::ImageFile)?;
    document
        .entries
        .iter()
        .map(|entry| {
            Ok((
                entry.service.clone(),
                image_file_reference(file, text, entry)?,
            ))
        })
        .collect()
}

/// Writes `updates` into a JSON image file, keeping everything else byte for byte.
///
/// A string entry gets the whole reference, an object entry each of its keys' parts; a service
/// not in the file is added after the last member, shaped like the last entry. A changed file
/// ends with a newline; when nothing changes the text is returned as it was. Errors: a
/// reference without a digest ([`SlotError::MissingDigest`]), a slot for a part the reference
/// lacks ([`SlotError::MissingPart`]), and the syntax and shape errors of [`read`].
pub fn write(file: &str, text: &str, updates: &ImageSet) -> Result<String, SlotError> {
    require_digests(updates)?;
    edit(file, text, Layout::ImageFile, updates)
}

/// The services of a JSON image file whose entry cannot hold a digest: an object of parts
/// without `ref` or `digest` (such as `{"name": ..., "tag": ...}`). Writing one drops the
/// reference's digest, which a wave with `pin = "digest"` refuses.
pub fn digestless(file: &str, text: &str) -> Result<BTreeSet<ServiceName>, SlotError> {
    let document = Document::scan(file, text, Layout::ImageFile)?;
    Ok(document
        .entries
        .into_iter()
        .filter(|entry| {
            !entry
                .slots
                .iter()
                .any(|slot| matches!(slot.held, Held::Part(Part::Ref | Part::Digest)))
        })
        .map(|entry| entry.service)
        .collect())
}

/// Reads the image set of the two-file layout.
///
/// A service in both files gets `name:tag@digest`; a service in one file only gets the part
/// that file holds. The files naming different images for a service is
/// [`SlotError::Inconsistent`].
pub fn read_two_file(
    tags_file: &str,
    tags_text: &str,
    digests_file: &str,
    digests_text: &str,
) -> Result<ImageSet, SlotError> {
    let tagged = read_half(tags_file, tags_text, Layout::Tags)?;
    let mut pinned = read_half(digests_file, digests_text, Layout::Digests)?;
    let mut set = ImageSet::new();
    for (service, (tagged, tags_at)) in tagged {
        let reference = match pinned.remove(&service) {
            None => tagged,
            Some((pinned, digests_at)) => ImageRef::join(&tagged, &pinned).map_err(|error| {
                // Lines are counted only here, on the way to an error.
                let tags_line = scan::line_of(tags_text, tags_at);
                let digests_line = scan::line_of(digests_text, digests_at);
                let detail = match error {
                    JoinError::DifferentImages { tagged, pinned } => format!(
                        "{tags_file}:{tags_line} names the image `{tagged}` but {digests_file}:{digests_line} names `{pinned}`"
                    ),
                    JoinError::Invalid(error) => format!(
                        "{tags_file}:{tags_line} and {digests_file}:{digests_line} do not make one reference: {error}"
                    ),
                };
                SlotError::Inconsistent {
                    service: service.clone(),
                    detail,
                }
            })?,
        };
        set.insert(service, reference);
    }
    set.extend(
        pinned
            .into_iter()
            .map(|(service, (pinned, _))| (service, pinned)),
    );
    Ok(set)
}

/// Writes `updates` into the two-file layout; returns the new texts of (tags, digests).
///
/// The same lossless rules as [`write()`]; a reference without a tag is
/// [`SlotError::MissingPart`] for the tags file.
pub fn write_two_file(
    tags_file: &str,
    tags_text: &str,
    digests_file: &str,
    digests_text: &str,
    updates: &ImageSet,
) -> Result<(String, String), SlotError> {
    require_digests(updates)?;
    let tags = edit(tags_file, tags_text, Layout::Tags, updates)?;
    let digests = edit(digests_file, digests_text, Layout::Digests, updates)?;
    Ok((tags, digests))
}

/// The kind of file being read or written; it decides the shape of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Service to a whole reference or an object of parts.
    ImageFile,
    /// Service to `name:tag`.
    Tags,
    /// Service to `name@digest`.
    Digests,
}

impl Layout {
    fn what(self) -> &'static str {
        match self {
            Layout::ImageFile => "an image file",
            Layout::Tags => "a tags file",
            Layout::Digests => "a digests file",
        }
    }

    /// What a string entry of this layout holds.
    fn whole(self) -> Held {
        match self {
            Layout::ImageFile => Held::Part(Part::Ref),
            Layout::Tags => Held::NameTag,
            Layout::Digests => Held::NameDigest,
        }
    }
}

/// What one string literal of an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// One part of the reference (or the whole, for `Part::Ref`).
    Part(Part),
    /// `name:tag`, as in a tags file.
    NameTag,
    /// `name@digest`, as in a digests file.
    NameDigest,
}

impl Held {
    /// The text the literal holds for `reference`; `None` when the reference lacks the part.
    fn render(self, reference: &ImageRef) -> Option<String> {
        match self {
            Held::Part(part) => reference.part(part).map(str::to_owned),
            Held::NameTag => reference
                .tag()
                .map(|tag| format!("{}:{tag}", reference.name())),
            Held::NameDigest => reference
                .digest()
                .map(|digest| format!("{}@{digest}", reference.name())),
        }
    }

    /// The part a reference needs for this literal to be written.
    fn needs(self) -> Part {
        match self {
            Held::Part(part) => part,
            Held::NameTag => Part::Tag,
            Held::NameDigest => Part::Digest,
        }
    }
}

/// A string literal that holds (part of) a service's reference.
#[derive(Debug)]
struct Slot {
    held: Held,
    /// The literal, quotes included.
    literal: Range<usize>,
    /// Its value, unescaped.
    value: String,
}

/// A service's member of the top-level object.
#[derive(Debug)]
struct Entry {
    service: ServiceName,
    /// The member's value (a string literal or an object).
    value: Range<usize>,
    is_object: bool,
    /// In file order.
    slots: Vec<Slot>,
}

/// A top-level member's key and value, service or annotation.
#[derive(Debug)]
struct MemberSpan {
    key: Range<usize>,
    value: Range<usize>,
}

/// An image file, tags file or digests file as scanned.
#[derive(Debug)]
struct Document {
    /// The top-level object, braces included.
    object: Range<usize>,
    /// Every top-level member, in file order.
    members: Vec<MemberSpan>,
    /// The members that are services, in file order.
    entries: Vec<Entry>,
}

impl Document {
    /// Scans `text` and checks the shape of `layout`; stored values are not judged here, so
    /// that a file with a broken reference can still be repaired by writing over it.
    fn scan(file: &str, text: &str, layout: Layout) -> Result<Document, SlotError> {
        let root = scan::parse(text).map_err(|e| json_error(file, text, e.offset, e.message))?;
        let Kind::Object(members) = root.kind else {
            return Err(json_error(
                file,
                text,
                root.span.start,
                format!(
                    "{} must be a JSON object from service to image reference, not {}",
                    layout.what(),
                    root.kind.describe()
                ),
            ));
        };
        let mut first_seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut entries = Vec::new();
        for member in &members {
            let at = member.key_span.start;
            if let Some(&first) = first_seen.get(member.key.as_str()) {
                return Err(json_error(
                    file,
                    text,
                    at,
                    format!(
                        "the key `{}` appears twice in the top-level object (first on line {})",
                        member.key,
                        scan::line_of(text, first)
                    ),
                ));
            }
            first_seen.insert(&member.key, at);
            if is_annotation(&member.key) {
                continue;
            }
            let service = ServiceName::parse(&member.key).map_err(|error| {
                json_error(
                    file,
                    text,
                    at,
                    format!("{error} (keys starting with `$`, `_` or `/` are annotations)"),
                )
            })?;
            entries.push(entry(file, text, layout, service, &member.value)?);
        }
        Ok(Document {
            object: root.span,
            members: members
                .iter()
                .map(|m| MemberSpan {
                    key: m.key_span.clone(),
                    value: m.value.span.clone(),
                })
                .collect(),
            entries,
        })
    }
}

/// Keys that can never be service names, which files use for schemas and comments.
fn is_annotation(key: &str) -> bool {
    key.starts_with(['$', '_', '/'])
}

/// Checks the shape of one service's value and finds its slots.
fn entry(
    file: &str,
    text: &str,
    layout: Layout,
    service: ServiceName,
    value: &Node,
) -> Result<Entry, SlotError> {
    match &value.kind {
        Kind::String(stored) => Ok(Entry {
            service,
            value: value.span.clone(),
            is_object: false,
            slots: vec![Slot {
                held: layout.whole(),
                literal: value.span.clone(),
                value: stored.clone(),
            }],
        }),
        Kind::Object(members) if layout == Layout::ImageFile => {
            if members.is_empty() {
                return Err(json_error(
                    file,
                    text,
                    value.span.start,
                    format!(
                        "the entry of service `{service}` is an empty object; it needs `ref` or `name`"
                    ),
                ));
            }
            let mut seen = BTreeSet::new();
            let mut slots = Vec::new();
            for member in members {
                let Some(part) = Part::from_word(&member.key) else {
                    return Err(json_error(
                        file,
                        text,
                        member.key_span.start,
                        format!(
                            "unknown key `{}` in the entry of service `{service}`; an entry's keys are `ref`, `name`, `tag` and `digest`",
                            member.key
                        ),
                    ));
                };
                if !seen.insert(part) {
                    return Err(json_error(
                        file,
                        text,
                        member.key_span.start,
                        format!(
                            "the key `{part}` appears twice in the entry of service `{service}`"
                        ),
                    ));
                }
                let Kind::String(stored) = &member.value.kind else {
                    return Err(json_error(
                        file,
                        text,
                        member.value.span.start,
                        format!(
                            "the `{part}` of service `{service}` must be a string, not {}",
                            member.value.kind.describe()
                        ),
                    ));
                };
                slots.push(Slot {
                    held: Held::Part(part),
                    literal: member.value.span.clone(),
                    value: stored.clone(),
                });
            }
            Ok(Entry {
                service,
                value: value.span.clone(),
                is_object: true,
                slots,
            })
        }
        other => {
            let expected = match layout {
                Layout::ImageFile => {
                    "a string (the whole reference) or an object with `ref`, `name`, `tag` or `digest`"
                }
                Layout::Tags => "a string `name:tag`",
                Layout::Digests => "a string `name@digest`",
            };
            Err(json_error(
                file,
                text,
                value.span.start,
                format!(
                    "the entry of service `{service}` must be {expected}, not {}",
                    other.describe()
                ),
            ))
        }
    }
}

/// The reference an image-file entry holds, its parts checked and combined.
fn image_file_reference(file: &str, text: &str, entry: &Entry) -> Result<ImageRef, SlotError> {
    let service = &entry.service;
    let find = |part| entry.slots.iter().find(|s| s.held == Held::Part(part));
    let invalid =
        |slot: &Slot, error: ReferenceError| invalid_stored(file, text, service, slot, error);

    let whole = find(Part::Ref)
        .map(|slot| ImageRef::parse(&slot.value).map_err(|e| invalid(slot, e)))
        .transpose()?;
    let name = match find(Part::Name) {
        Some(slot) => {
            ImageRef::from_parts(&slot.value, None, None).map_err(|e| invalid(slot, e))?;
            slot.value.as_str()
        }
        None => match &whole {
            Some(whole) => whole.name(),
            None => {
                return Err(json_error(
                    file,
                    text,
                    entry.value.start,
                    format!(
                        "the entry of service `{service}` has neither `ref` nor `name`, so it names no image"
                    ),
                ));
            }
        },
    };
    let tag = find(Part::Tag);
    if let Some(slot) = tag {
        ImageRef::from_parts(name, Some(&slot.value), None).map_err(|e| invalid(slot, e))?;
    }
    let digest = find(Part::Digest);
    if let Some(slot) = digest {
        Digest::parse(&slot.value).map_err(|e| invalid(slot, e))?;
    }

    if let Some(whole) = whole {
        for part in [Part::Name, Part::Tag, Part::Digest] {
            let Some(slot) = find(part) else { continue };
            if whole.part(part) != Some(slot.value.as_str()) {
                let has = match whole.part(part) {
                    Some(value) => format!("whose {part} is `{value}`"),
                    None => format!("which has no {part}"),
                };
                return Err(SlotError::Inconsistent {
                    service: service.clone(),
                    detail: format!(
                        "{file}:{}: `ref` is `{whole}`, {has}, but `{part}` is `{}`",
                        scan::line_of(text, slot.literal.start),
                        slot.value
                    ),
                });
            }
        }
        return Ok(whole);
    }
    let tag = tag.map(|slot| slot.value.as_str());
    let digest = digest.map(|slot| slot.value.as_str());
    ImageRef::from_parts(name, tag, digest).map_err(|error| SlotError::Inconsistent {
        service: service.clone(),
        detail: format!(
            "{file}:{}: the parts do not make one reference: {error}",
            scan::line_of(text, entry.value.start)
        ),
    })
}

/// Reads one file of the two-file layout: each service's reference and the offset of its value.
fn read_half(
    file: &str,
    text: &str,
    layout: Layout,
) -> Result<BTreeMap<ServiceName, (ImageRef, usize)>, SlotError> {
    let document = Document::scan(file, text, layout)?;
    let mut half = BTreeMap::new();
    for entry in document.entries {
        let slot = &entry.slots[0];
        let reference = ImageRef::parse(&slot.value)
            .map_err(|e| invalid_stored(file, text, &entry.service, slot, e))?;
        let (fits, shape) = match layout {
            Layout::Tags => (
                reference.tag().is_some() && reference.digest().is_none(),
                "`name:tag`, with a tag and without a digest",
            ),
            _ => (
                reference.digest().is_some() && reference.tag().is_none(),
                "`name@digest`, with a digest and without a tag",
            ),
        };
        if !fits {
            return Err(SlotError::InvalidStored {
                file: file.to_owned(),
                line: scan::line_of(text, slot.literal.start),
                service: entry.service,
                part: Part::Ref,
                value: slot.value.clone(),
                reason: format!("an entry of {} is {shape}", layout.what()),
            });
        }
        half.insert(entry.service, (reference, slot.literal.start));
    }
    Ok(half)
}

/// cfgupdate writes only references pinned by digest.
fn require_digests(updates: &ImageSet) -> Result<(), SlotError> {
    match updates
        .iter()
        .find(|(_, reference)| reference.digest().is_none())
    {
        Some((service, reference)) => Err(SlotError::MissingDigest {
            service: service.clone(),
            reference: reference.clone(),
        }),
        None => Ok(()),
    }
}

fn json_error(file: &str, text: &str, offset: usize, message: String) -> SlotError {
    SlotError::Json(JsonSlotError {
        file: file.to_owned(),
        line: scan::line_of(text, offset),
        message,
    })
}

fn invalid_stored(
    file: &str,
    text: &str,
    service: &ServiceName,
    slot: &Slot,
    error: ReferenceError,
) -> SlotError {
    let reason = match error {
        ReferenceError::Invalid { reason, .. } | ReferenceError::InvalidDigest { reason, .. } => {
            reason
        }
    };
    SlotError::InvalidStored {
        file: file.to_owned(),
        line: scan::line_of(text, slot.literal.start),
        service: service.clone(),
        part: slot.held.needs(),
        value: slot.value.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests;
