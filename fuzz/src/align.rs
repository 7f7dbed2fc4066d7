//! Checks that an edited file is its original with only string literals changed, each to a
//! value that was asked for. They re-scan both texts with scanners of their own (a tiny JSON
//! tokenizer here, the jrsonnet lexer for Jsonnet) rather than trust the editor's spans.

use std::collections::BTreeSet;

use cfgupdate_core::{ImageRef, ImageSet};

/// Every text a slot may be given for `updates`: each reference whole, each of its parts, and
/// its tag with its digest.
pub fn allowed_values(updates: &ImageSet) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for reference in updates.values() {
        let parts: [Option<&str>; 4] = [
            Some(reference.as_str()),
            Some(reference.name()),
            reference.tag(),
            reference.digest().map(|d| d.as_str()),
        ];
        values.extend(parts.into_iter().flatten().map(str::to_owned));
        // A tag slot pinned the way Renovate writes it keeps its pin.
        if let (Some(tag), Some(digest)) = (reference.tag(), reference.digest()) {
            values.insert(format!("{tag}@{digest}"));
        }
    }
    values
}

/// A JSON token: a whole string literal, or one byte of anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JsonToken<'t> {
    /// The literal with its quotes, as written.
    String(&'t str),
    Byte(u8),
}

/// Splits text into string literals and single other bytes. Good enough for text the editor
/// accepted, which is valid JSON.
fn json_tokens(text: &str) -> Vec<JsonToken<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
            tokens.push(JsonToken::String(&text[start..i]));
        } else {
            tokens.push(JsonToken::Byte(bytes[i]));
            i += 1;
        }
    }
    tokens
}

/// The value of a JSON string literal, by serde_json (an independent unescaper).
fn json_value(literal: &str) -> Option<String> {
    serde_json::from_str(literal).ok()
}

/// Whether `after` may stand where `before` stood: the same token, or a string literal now
/// holding one of the allowed values.
fn json_compatible(
    before: &JsonToken<'_>,
    after: &JsonToken<'_>,
    allowed: &BTreeSet<String>,
) -> bool {
    match (before, after) {
        (a, b) if a == b => true,
        (JsonToken::String(_), JsonToken::String(b)) => {
            json_value(b).is_some_and(|value| allowed.contains(&value))
        }
        _ => false,
    }
}

/// Checks that `edited` is `original` with string literals rewritten to allowed values, at most
/// one contiguous insertion (new services, which may replace whitespace), and a final newline
/// (`\n` or `\r\n`) added when the original had none. Panics with a description otherwise.
pub fn check_json_edit(original: &str, edited: &str, updates: &ImageSet) {
    let allowed = allowed_values(updates);
    let aligned = if original.ends_with('\n') {
        json_aligned(original, edited, &allowed)
    } else {
        assert!(
            edited.ends_with('\n'),
            "a changed file must end with a newline: {edited:?}"
        );
        [edited.strip_suffix('\n'), edited.strip_suffix("\r\n")]
            .into_iter()
            .flatten()
            .any(|body| json_aligned(original, body, &allowed))
    };
    assert!(
        aligned,
        "bytes outside the edited literals changed\noriginal: {original:?}\nedited:   {edited:?}"
    );
}

/// Whether `edited` is `original` with literals rewritten and one insertion (see
/// [`check_json_edit`]).
fn json_aligned(original: &str, edited: &str, allowed: &BTreeSet<String>) -> bool {
    let before = json_tokens(original);
    let after = json_tokens(edited);
    let prefix = before
        .iter()
        .zip(&after)
        .take_while(|(b, a)| json_compatible(b, a, allowed))
        .count();
    let room = (before.len() - prefix).min(after.len() - prefix);
    let suffix = before
        .iter()
        .rev()
        .zip(after.iter().rev())
        .take(room)
        .take_while(|(b, a)| json_compatible(b, a, allowed))
        .count();
    // New services go in at one place. Into an empty object they replace its inner
    // whitespace (an empty object has no style to follow), so whitespace may be dropped there.
    let replaced = &before[prefix..before.len() - suffix];
    let blank = |t: &JsonToken<'_>| matches!(t, JsonToken::Byte(b' ' | b'\t' | b'\n' | b'\r'));
    let opening = before[..prefix].iter().rev().find(|t| !blank(t));
    let closing = before[prefix + replaced.len()..].iter().find(|t| !blank(t));
    let inside_empty_object =
        opening == Some(&JsonToken::Byte(b'{')) && closing == Some(&JsonToken::Byte(b'}'));
    replaced.is_empty() || inside_empty_object && replaced.iter().all(blank)
}

/// Checks that `edited` lexes to the same tokens as `original`, every one byte for byte equal
/// except quoted string literals that now hold exactly one of the allowed values (an image
/// reference or part needs no escape in any quote style). Panics with a description otherwise.
pub fn check_jsonnet_edit(original: &str, edited: &str, updates: &ImageSet) {
    use jrsonnet_lexer::SyntaxKind;
    let allowed = allowed_values(updates);
    let before = jrsonnet_lexer::lex(original);
    let after = jrsonnet_lexer::lex(edited);
    assert_eq!(
        before.len(),
        after.len(),
        "the edit changed the number of tokens\noriginal: {original:?}\nedited:   {edited:?}"
    );
    let mut covered = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            a.range.0 as usize, covered,
            "tokens do not cover the edited text"
        );
        covered = a.range.1 as usize;
        assert_eq!(
            b.kind, a.kind,
            "a token changed kind: {:?} became {:?}\noriginal: {original:?}\nedited:   {edited:?}",
            b.text, a.text
        );
        if b.text == a.text {
            continue;
        }
        let content = match a.kind {
            SyntaxKind::STRING_SINGLE | SyntaxKind::STRING_DOUBLE => &a.text[1..a.text.len() - 1],
            SyntaxKind::STRING_SINGLE_VERBATIM | SyntaxKind::STRING_DOUBLE_VERBATIM => {
                &a.text[2..a.text.len() - 1]
            }
            kind => panic!(
                "a {kind:?} token changed: {:?} became {:?}\noriginal: {original:?}\nedited:   {edited:?}",
                b.text, a.text
            ),
        };
        assert!(
            allowed.contains(content),
            "a literal was given {content:?}, which is no part of any update\noriginal: {original:?}\nedited:   {edited:?}"
        );
    }
    assert_eq!(covered, edited.len(), "tokens do not cover the edited text");
}

/// For the parts `read` holds, each equals that part of `written`: an entry that stores only
/// some parts reads back as a reference made of those.
pub fn reads_back_as(read: &ImageRef, written: &ImageRef) -> bool {
    read.name() == written.name()
        && read.tag().is_none_or(|tag| Some(tag) == written.tag())
        && read
            .digest()
            .is_none_or(|digest| Some(digest) == written.digest())
}
