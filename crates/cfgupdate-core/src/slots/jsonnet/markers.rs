//! Marker slots: a `cfgupdate: S[:part]` comment marks the last string literal before it on
//! its line.
//!
//! Markers are found in the token stream, where comments are tokens of their own: text inside
//! a string or a `|||` block is part of a string token and can never look like a marker.
//! Whether a marked literal is a whole value is decided by `whole.rs`.

use jrsonnet_rowan_parser::SyntaxKind;

use super::literal::StringToken;
use super::syntax::Source;
use super::{Holder, JsonnetSlotError, Site, SlotKind, context, looks, whole};
use crate::names::ServiceName;
use crate::reference::Part;

const MARKER: &str = "cfgupdate:";

/// Every marker slot of the file, in file order.
pub(super) fn find(source: &Source<'_>) -> Result<Vec<Site>, JsonnetSlotError> {
    scan(source).judge(source)
}

/// A marker comment and the literal it points at, not yet judged.
pub(super) struct Mark {
    pub(super) service: ServiceName,
    part: Part,
    /// Where the comment starts.
    offset: usize,
    /// The lexer token of the literal.
    literal: usize,
}

/// The markers of a file as the comments show them: needs only the tokens, so it can run
/// before the file's grammar is checked.
pub(super) struct Scan {
    /// The well-formed markers, in file order.
    pub(super) marks: Vec<Mark>,
    /// The first malformed one, which comes after all of `marks`.
    error: Option<JsonnetSlotError>,
}

impl Scan {
    /// The slots, or the first error in file order: a marked literal that is not a whole
    /// value, or a malformed marker.
    pub(super) fn judge(self, source: &Source<'_>) -> Result<Vec<Site>, JsonnetSlotError> {
        let (judged, malformed) = self.judge_each(source)?;
        let sites = judged
            .into_iter()
            .map(|(_, site)| site)
            .collect::<Result<Vec<Site>, _>>()?;
        match malformed {
            Some(error) => Err(error),
            None => Ok(sites),
        }
    }

    /// Each marker judged on its own, in file order: its service and its slot, or why its
    /// literal is refused (an error of that marker's service only), and the malformed marker that ended the
    /// scan, if any. `Err` is an error of the whole file (its tree could not be built).
    #[allow(clippy::type_complexity)]
    pub(super) fn judge_each(
        self,
        source: &Source<'_>,
    ) -> Result<
        (
            Vec<(ServiceName, Result<Site, JsonnetSlotError>)>,
            Option<JsonnetSlotError>,
        ),
        JsonnetSlotError,
    > {
        let mut judged = Vec::with_capacity(self.marks.len());
        let mut literals: Vec<usize> = self.marks.iter().map(|mark| mark.literal).collect();
        literals.sort_unstable();
        literals.dedup();
        let refusals = context::refusals(&source.tokens, source.text, &literals);
        for mark in self.marks {
            let context = literals
                .binary_search(&mark.literal)
                .ok()
                .and_then(|at| refusals[at].as_deref());
            let holder = marked_literal(source, &mark, context)?;
            let service = mark.service.clone();
            judged.push((
                service,
                holder.map(|holder| Site {
                    service: mark.service,
                    part: mark.part,
                    kind: SlotKind::Marker,
                    offset: mark.offset,
                    holder,
                }),
            ));
        }
        Ok((judged, self.error))
    }
}

/// Finds the marker comments and the literal each points at, up to the first malformed one.
pub(super) fn scan(source: &Source<'_>) -> Scan {
    let mut marks = Vec::new();
    let mut last_string = None;
    let mut newline_since_string = false;
    for (index, token) in source.tokens.iter().enumerate() {
        if StringToken::of_kind(token.kind).is_some() {
            last_string = Some(index);
            newline_since_string = false;
            continue;
        }
        // Of the other tokens, only whitespace and comments can hold a marker or a line break.
        if !matches!(
            token.kind,
            SyntaxKind::WHITESPACE
                | SyntaxKind::SINGLE_LINE_SLASH_COMMENT
                | SyntaxKind::SINGLE_LINE_HASH_COMMENT
                | SyntaxKind::MULTI_LINE_COMMENT
        ) {
            continue;
        }
        let text = &source.text[token.range()];
        if let Some(body) = comment_body(token.kind, text)
            && let Some(spec) = body.trim().strip_prefix(MARKER)
        {
            let offset = token.start as usize;
            let malformed = |message: String| Scan {
                marks: Vec::new(),
                error: Some(source.error(offset, message)),
            };
            let (service, part) = match parse_spec(spec.trim()) {
                Ok(spec) => spec,
                Err(reason) => {
                    return Scan {
                        marks,
                        ..malformed(format!("malformed marker `{}`: {reason}", text.trim_end()))
                    };
                }
            };
            let literal = match last_string {
                Some(literal) if !newline_since_string => literal,
                _ => {
                    return Scan {
                        marks,
                        ..malformed(format!(
                            "the marker `{}` has no string literal before it on its line; put it after the literal it marks",
                            text.trim_end()
                        ))
                    };
                }
            };
            marks.push(Mark {
                service,
                part,
                offset,
                literal,
            });
        }
        if text.contains('\n') {
            newline_since_string = true;
        }
    }
    Scan { marks, error: None }
}

/// The text of a comment between its delimiters; `None` for tokens that are not comments.
fn comment_body(kind: SyntaxKind, text: &str) -> Option<&str> {
    match kind {
        SyntaxKind::SINGLE_LINE_SLASH_COMMENT => text.strip_prefix("//"),
        SyntaxKind::SINGLE_LINE_HASH_COMMENT => text.strip_prefix('#'),
        SyntaxKind::MULTI_LINE_COMMENT => text.strip_prefix("/*")?.strip_suffix("*/"),
        _ => None,
    }
}

/// `S` or `S:part`. A comment that starts with `cfgupdate:` but names no valid slot is refused
/// rather than ignored: a mistyped marker would otherwise silently stop a service being written.
fn parse_spec(spec: &str) -> Result<(ServiceName, Part), String> {
    let (service, part) = match spec.split_once(':') {
        Some((service, word)) => {
            let part = Part::from_word(word.trim()).ok_or_else(|| {
                format!("`{word}` is not a part; expected one of ref, name, tag, digest")
            })?;
            (service.trim(), part)
        }
        None => (spec, Part::Ref),
    };
    let service = ServiceName::parse(service).map_err(|error| error.to_string())?;
    Ok((service, part))
}

/// Checks that the literal a marker points at is a whole value cfgupdate can rewrite, used
/// where an image can be (`context` is why not, from `context.rs`), whose value looks like
/// the part the marker names.
///
/// The outer `Err` is an error of the whole file (its tree could not be built); the inner
/// one refuses this marker.
fn marked_literal(
    source: &Source<'_>,
    mark: &Mark,
    context: Option<&str>,
) -> Result<Result<Holder, JsonnetSlotError>, JsonnetSlotError> {
    let index = mark.literal;
    let service = &mark.service;
    let token = source.tokens[index];
    let refuse = |why: String| {
        let shown = source.excerpt(token.range());
        Ok(Err(source.error(
            token.start as usize,
            format!("the marker for service `{service}` marks {shown}, {why}"),
        )))
    };
    if let Some(why) = whole::refusal(source, index)? {
        return refuse(why);
    }
    let literal = match super::literal_at(source, index) {
        Ok(Holder::Literal(literal)) => literal,
        Ok(Holder::Other { found }) => {
            return refuse(format!(
                "{found}; cfgupdate writes only quoted string literals ('...', \"...\", @'...', @\"...\")"
            ));
        }
        Err(why) => return refuse(why),
    };
    if let Some(why) = context {
        return refuse(format!(
            "{why}; cfgupdate writes an image only where one is used as it is"
        ));
    }
    if let Some(why) = looks::mismatch(mark.part, &literal.value) {
        let slot = match mark.part {
            Part::Ref => "an image reference".to_owned(),
            part => format!("the {part} of an image reference"),
        };
        return refuse(format!(
            "{why}; the marker says it holds {slot}, and cfgupdate writes a slot only where its value looks like that (an empty literal is a placeholder)"
        ));
    }
    Ok(Ok(Holder::Literal(literal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_specs_name_a_service_and_optionally_a_part() {
        assert_eq!(
            parse_spec("api").unwrap(),
            (ServiceName::parse("api").unwrap(), Part::Ref)
        );
        assert_eq!(parse_spec("api:tag").unwrap().1, Part::Tag);
        assert_eq!(parse_spec("api : digest").unwrap().1, Part::Digest);
        assert_eq!(parse_spec("api:ref").unwrap().1, Part::Ref);
        assert!(parse_spec("api:tags").unwrap_err().contains("`tags`"));
        assert!(parse_spec("see the docs").is_err());
        assert!(parse_spec("").is_err());
    }

    #[test]
    fn only_comment_tokens_have_a_body() {
        assert_eq!(
            comment_body(SyntaxKind::SINGLE_LINE_SLASH_COMMENT, "// x\n"),
            Some(" x\n")
        );
        assert_eq!(
            comment_body(SyntaxKind::MULTI_LINE_COMMENT, "/* x */"),
            Some(" x ")
        );
        assert_eq!(comment_body(SyntaxKind::STRING_SINGLE, "'// x'"), None);
    }
}
