//! Writing into a scanned file: literals are rewritten in place, new services are inserted in
//! the file's own style, and the result is read back before it is returned.

use std::collections::BTreeSet;
use std::ops::Range;

use super::{Document, Entry, Held, ImageSet, Layout, SlotError, json_error, scan};
use crate::names::ServiceName;
use crate::reference::{ImageRef, Part};
use crate::slots::escape::escape_quoted;

/// Writes `updates` into a file of `layout`: literals of known services are rewritten in
/// place, new services are inserted after the last member.
pub(super) fn edit(
    file: &str,
    text: &str,
    layout: Layout,
    updates: &ImageSet,
) -> Result<String, SlotError> {
    let document = Document::scan(file, text, layout)?;
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for entry in &document.entries {
        let Some(reference) = updates.get(&entry.service) else {
            continue;
        };
        for slot in &entry.slots {
            let at = slot.literal.start;
            let wanted = render(file, text, at, slot.held, &entry.service, reference)?;
            if wanted != slot.value {
                edits.push((slot.literal.clone(), json_string(&wanted)));
            }
        }
    }
    let known: BTreeSet<&ServiceName> = document.entries.iter().map(|e| &e.service).collect();
    let added: Vec<(&ServiceName, &ImageRef)> = updates
        .iter()
        .filter(|(service, _)| !known.contains(service))
        .collect();
    if !added.is_empty() {
        edits.push(insertion(file, text, layout, &document, &added)?);
    }
    if edits.is_empty() {
        return Ok(text.to_owned());
    }
    // Stable, so an insertion stays after a rewrite of the last literal that ends where it starts.
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(text.len() + 128 * added.len());
    let mut cursor = 0;
    for (range, replacement) in &edits {
        out.push_str(&text[cursor..range.start]);
        out.push_str(replacement);
        cursor = range.end;
    }
    out.push_str(&text[cursor..]);
    if !out.ends_with('\n') {
        out.push_str(newline_of(text));
    }
    verify(file, text, &document, layout, &out, updates, &added)?;
    Ok(out)
}

/// The text a literal holding `held` gets for `reference`.
fn render(
    file: &str,
    text: &str,
    at: usize,
    held: Held,
    service: &ServiceName,
    reference: &ImageRef,
) -> Result<String, SlotError> {
    held.render(reference)
        .ok_or_else(|| SlotError::MissingPart {
            file: file.to_owned(),
            line: scan::line_of(text, at),
            service: service.clone(),
            part: held.needs(),
            reference: reference.clone(),
        })
}

/// The edit that adds `added` to the top-level object, in the style of its last member.
fn insertion(
    file: &str,
    text: &str,
    layout: Layout,
    document: &Document,
    added: &[(&ServiceName, &ImageRef)],
) -> Result<(Range<usize>, String), SlotError> {
    let Some(last) = document.members.last() else {
        // An empty object has no style to follow.
        let newline = newline_of(text);
        let mut out = String::new();
        for (index, (service, reference)) in added.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(newline);
            out.push_str("  ");
            out.push_str(&json_string(service.as_str()));
            out.push_str(": ");
            let at = document.object.start;
            out.push_str(&new_value(
                file, text, layout, document, at, service, reference,
            )?);
        }
        out.push_str(newline);
        return Ok((document.object.start + 1..document.object.end - 1, out));
    };
    let separator = match document.members.len() {
        n if n >= 2 => text[document.members[n - 2].value.end..last.key.start].to_owned(),
        _ => {
            let line_start = text[..last.key.start].rfind('\n').map_or(0, |i| i + 1);
            let indent = &text[line_start..last.key.start];
            if line_start > document.object.start && indent.bytes().all(|b| b == b' ' || b == b'\t')
            {
                let newline = if text[..line_start].ends_with("\r\n") {
                    "\r\n"
                } else {
                    "\n"
                };
                format!(",{newline}{indent}")
            } else {
                ", ".to_owned()
            }
        }
    };
    let colon = &text[last.key.end..last.value.start];
    let at = last.value.end;
    let mut out = String::new();
    for (service, reference) in added {
        out.push_str(&separator);
        out.push_str(&json_string(service.as_str()));
        out.push_str(colon);
        out.push_str(&new_value(
            file, text, layout, document, at, service, reference,
        )?);
    }
    Ok((at..at, out))
}

/// The value of a new entry: shaped like the last entry when that is an object of parts (its
/// text with each literal rewritten), otherwise a string.
fn new_value(
    file: &str,
    text: &str,
    layout: Layout,
    document: &Document,
    at: usize,
    service: &ServiceName,
    reference: &ImageRef,
) -> Result<String, SlotError> {
    // An object of parts is a template only when its parts carry the whole new reference: a
    // new service must never lose its name, tag or digest to the shape of its neighbour.
    let carries_all = |entry: &&Entry| {
        let has = |part: Part| entry.slots.iter().any(|slot| slot.held == Held::Part(part));
        let whole = has(Part::Ref)
            || (has(Part::Name)
                && has(Part::Digest)
                && (reference.tag().is_none() || has(Part::Tag)));
        whole
            && entry
                .slots
                .iter()
                .all(|slot| slot.held.render(reference).is_some())
    };
    let Some(template) = document
        .entries
        .last()
        .filter(|e| e.is_object)
        .filter(carries_all)
    else {
        return Ok(json_string(&render(
            file,
            text,
            at,
            layout.whole(),
            service,
            reference,
        )?));
    };
    let mut out = String::new();
    let mut cursor = template.value.start;
    for slot in &template.slots {
        out.push_str(&text[cursor..slot.literal.start]);
        out.push_str(&json_string(&render(
            file, text, at, slot.held, service, reference,
        )?));
        cursor = slot.literal.end;
    }
    out.push_str(&text[cursor..template.value.end]);
    Ok(out)
}

/// Reads the edited text back: it must scan, keep every other member's value byte for byte,
/// and hold exactly the intended values for the services written.
fn verify(
    file: &str,
    before_text: &str,
    before: &Document,
    layout: Layout,
    after_text: &str,
    updates: &ImageSet,
    added: &[(&ServiceName, &ImageRef)],
) -> Result<(), SlotError> {
    let unintended = |offset: usize, what: String| {
        json_error(
            file,
            after_text,
            offset,
            format!(
                "the edit did not give the intended file, so it was not made (a bug in cfgupdate): {what}"
            ),
        )
    };
    let after =
        Document::scan(file, after_text, layout).map_err(|e| unintended(0, e.to_string()))?;
    let services = |d: &Document| {
        d.entries
            .iter()
            .map(|e| e.service.clone())
            .collect::<Vec<_>>()
    };
    let mut expected = services(before);
    expected.extend(added.iter().map(|(service, _)| (*service).clone()));
    if services(&after) != expected || after.members.len() != before.members.len() + added.len() {
        return Err(unintended(
            0,
            "the services are not the intended ones".to_owned(),
        ));
    }
    for (index, entry) in after.entries.iter().enumerate() {
        match updates.get(&entry.service) {
            Some(reference) => {
                for slot in &entry.slots {
                    if slot.held.render(reference).as_deref() != Some(slot.value.as_str()) {
                        return Err(unintended(
                            slot.literal.start,
                            format!("service `{}` does not hold `{reference}`", entry.service),
                        ));
                    }
                }
            }
            None => {
                if after_text[entry.value.clone()]
                    != before_text[before.entries[index].value.clone()]
                {
                    return Err(unintended(
                        entry.value.start,
                        format!("service `{}` changed", entry.service),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The file's newline: the one that ends its first line, LF when it has none.
fn newline_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if text[..i].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

/// `value` as a JSON string literal; every character that could end the literal or break the
/// line is escaped, so a value can never change the structure of the file.
pub(super) fn json_string(value: &str) -> String {
    format!("\"{}\"", escape_quoted(value, '"'))
}
