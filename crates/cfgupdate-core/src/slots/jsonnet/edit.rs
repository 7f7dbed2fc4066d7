//! Writing values into string literals in one pass, and proving the result is the same file
//! with only those literals changed.
//!
//! The proof re-lexes the result rather than re-parsing it. The parser is fed nothing but the
//! sequence of token kinds (`jrsonnet_rowan_parser::parse` lexes, then parses the kinds), so a
//! result whose tokens have the same kinds as the original's, with every byte outside the
//! edited literals equal, parses to the same tree with the same (empty) error list, and every
//! slot in it sits where it sat before. Lexing costs a tenth of parsing, which is what keeps a
//! 1 MB file with 1,000 slots within its time budget.

use std::ops::Range;

use super::JsonnetSlotError;
use super::literal::{StringToken, Style};
use super::syntax::{self, Source};
use crate::names::ServiceName;

/// One literal to rewrite.
pub(super) struct Edit {
    /// The lexer token of the literal.
    pub(super) token: usize,
    /// The literal's content bytes, without its quotes.
    pub(super) content: Range<usize>,
    pub(super) style: Style,
    /// The value to write, unescaped.
    pub(super) value: String,
    /// The literal already holds the value. Kept until conflicts are checked, since another
    /// slot on the same literal may want a different value; then dropped, so that writing a
    /// value a slot holds changes no byte, however the literal spells it.
    pub(super) unchanged: bool,
    /// Whose slot it is, for messages.
    pub(super) service: ServiceName,
}

/// The text of `source` with every edit applied.
pub(super) fn rewrite(
    source: &Source<'_>,
    mut edits: Vec<Edit>,
) -> Result<String, JsonnetSlotError> {
    edits.sort_by_key(|edit| edit.token);
    edits.dedup_by(|later, earlier| later.token == earlier.token && later.value == earlier.value);
    if let Some(pair) = edits.windows(2).find(|pair| pair[0].token == pair[1].token) {
        return Err(source.error(
            pair[0].content.start,
            format!(
                "the string literal is a slot of both `{}` and `{}`, which are given different values",
                pair[0].service, pair[1].service
            ),
        ));
    }
    edits.retain(|edit| !edit.unchanged);
    if edits.is_empty() {
        return Ok(source.text.to_owned());
    }

    let escaped: Vec<String> = edits
        .iter()
        .map(|edit| edit.style.escape(&edit.value))
        .collect();
    let replaced: usize = edits.iter().map(|edit| edit.content.len()).sum();
    let added: usize = escaped.iter().map(String::len).sum();
    let mut text = String::with_capacity(source.text.len() - replaced + added);
    let mut copied = 0;
    for (edit, escaped) in edits.iter().zip(&escaped) {
        text.push_str(&source.text[copied..edit.content.start]);
        text.push_str(escaped);
        copied = edit.content.end;
    }
    text.push_str(&source.text[copied..]);

    verify(source, &edits, &escaped, &text)?;
    Ok(text)
}

/// Checks that `text` has the original's tokens, kinds and bytes, except inside the edited
/// literals, and that each edited literal reads back as the value written.
fn verify(
    source: &Source<'_>,
    edits: &[Edit],
    escaped: &[String],
    text: &str,
) -> Result<(), JsonnetSlotError> {
    let broken = |edit: &Edit| {
        source.error(
            edit.content.start,
            format!(
                "internal error: writing `{}` for service `{}` would not leave the rest of the file as it was; nothing was written",
                edit.value, edit.service
            ),
        )
    };
    // The lexer is third-party code run on a new text: a panic in it is a refusal, never a
    // crash (as when the file was first read, in `syntax.rs`).
    let tokens = std::panic::catch_unwind(|| syntax::lex(text)).map_err(|_| broken(&edits[0]))?;
    if tokens.len() != source.tokens.len() {
        return Err(broken(&edits[0]));
    }
    let mut shift: isize = 0;
    let mut next = 0;
    for (index, (old, new)) in source.tokens.iter().zip(&tokens).enumerate() {
        let edit = edits.get(next).filter(|edit| edit.token == index);
        let same_place = new.start as usize == (old.start as usize).wrapping_add_signed(shift);
        if new.kind != old.kind || !same_place {
            return Err(broken(edit.unwrap_or(&edits[next.min(edits.len() - 1)])));
        }
        if let Some(edit) = edit {
            let grown = escaped[next].len() as isize - edit.content.len() as isize;
            shift += grown;
            let new_range = new.range();
            let reads_back = (new_range.end == (old.end as usize).wrapping_add_signed(shift))
                .then(|| match StringToken::of_kind(new.kind) {
                    Some(StringToken::Quoted(style)) if style == edit.style => {
                        style.unescape(text.get(style.content_range(new_range))?)
                    }
                    _ => None,
                })
                .flatten();
            if reads_back.as_deref() != Some(edit.value.as_str()) {
                return Err(broken(edit));
            }
            next += 1;
        }
    }
    // Every byte outside the edited contents, compared a stretch between two edits at a time
    // rather than token by token.
    let (mut old_at, mut new_at) = (0, 0);
    for (edit, escaped) in edits.iter().zip(escaped) {
        let stretch = edit.content.start - old_at;
        if source.text.get(old_at..edit.content.start) != text.get(new_at..new_at + stretch) {
            return Err(broken(edit));
        }
        old_at = edit.content.end;
        new_at += stretch + escaped.len();
    }
    if source.text.get(old_at..) != text.get(new_at..) {
        return Err(broken(&edits[edits.len() - 1]));
    }
    Ok(())
}
