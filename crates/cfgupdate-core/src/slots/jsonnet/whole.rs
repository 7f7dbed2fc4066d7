//! Whether a marked string literal is a whole value: not a field name, an import path, an
//! operand of an operator, or indexed or called.
//!
//! The tree answers this for every literal, but building it costs most of the time of
//! editing a large file. So the literal's neighbouring tokens answer first, and only for the
//! shapes where they prove the literal whole: a literal between `,` `:` `=` `[` (or the `(` of
//! a call) and `,` `;` `)` `]` `}`, which is how image literals are written in practice
//! (`image: '...',`, `local image = '...';`, `container.new('api', '...')`). No operator,
//! suffix, field name or import fits between such neighbours. Anything else is left to the
//! tree, so the verdict is always the tree's; `tests.rs` checks the shortcut against the tree
//! on generated files.

use jrsonnet_rowan_parser::{SyntaxKind, SyntaxNode};

use super::JsonnetSlotError;
use super::syntax::{Source, Token};

/// Why the string token `index` is not a whole value; `None` when it is.
pub(super) fn refusal(
    source: &Source<'_>,
    index: usize,
) -> Result<Option<String>, JsonnetSlotError> {
    if surely_whole(&source.tokens, index) {
        return Ok(None);
    }
    refusal_by_tree(source, index)
}

/// Whether the neighbouring tokens alone prove the token `index` a whole value. `false` means
/// only that they do not.
pub(super) fn surely_whole(tokens: &[Token], index: usize) -> bool {
    use SyntaxKind::*;
    let before = significant(tokens[..index].iter().rev());
    let after = significant(tokens[index + 1..].iter());
    let Some(after) = after else {
        return false;
    };
    if !matches!(after, COMMA | SEMI | R_PAREN | R_BRACK | R_BRACE) {
        return false;
    }
    match before {
        Some(COMMA | COLON | ASSIGN | L_BRACK) => true,
        // `(` opens a call's arguments only after a name (a parameter list holds no
        // literals); after anything else it may be parentheses, whose surroundings count.
        Some(L_PAREN) => {
            after != R_PAREN
                || significant(
                    tokens[..index]
                        .iter()
                        .rev()
                        .skip_while(|t| t.kind != L_PAREN)
                        .skip(1),
                ) == Some(IDENT)
        }
        _ => false,
    }
}

/// The kind of the first token of `tokens` that is not whitespace or a comment.
fn significant<'a>(mut tokens: impl Iterator<Item = &'a Token>) -> Option<SyntaxKind> {
    tokens
        .find(|token| {
            !matches!(
                token.kind,
                SyntaxKind::WHITESPACE
                    | SyntaxKind::SINGLE_LINE_SLASH_COMMENT
                    | SyntaxKind::SINGLE_LINE_HASH_COMMENT
                    | SyntaxKind::MULTI_LINE_COMMENT
            )
        })
        .map(|token| token.kind)
}

/// The tree's answer to [`refusal`], for every literal.
pub(super) fn refusal_by_tree(
    source: &Source<'_>,
    index: usize,
) -> Result<Option<String>, JsonnetSlotError> {
    let Some(parent) = source.tree_token(index)?.and_then(|token| token.parent()) else {
        return Ok(Some("which is not part of the parsed file".to_owned()));
    };
    Ok(match parent.kind() {
        SyntaxKind::EXPR_STRING => not_whole(&parent),
        SyntaxKind::FIELD_NAME_FIXED => {
            Some("a field name; put the marker after the value it marks".to_owned())
        }
        SyntaxKind::EXPR_IMPORT => Some("an import path".to_owned()),
        _ => Some("which is not a value".to_owned()),
    })
}

/// Why the string expression `node` is not a whole value: an operand of a binary operator
/// (possibly through parentheses), or indexed or called.
fn not_whole(node: &SyntaxNode) -> Option<String> {
    let mut node = node.parent()?;
    loop {
        if node.kind() != SyntaxKind::EXPR {
            return None;
        }
        if node.children().any(|child| {
            matches!(
                child.kind(),
                SyntaxKind::SUFFIX_INDEX
                    | SyntaxKind::SUFFIX_INDEX_EXPR
                    | SyntaxKind::SUFFIX_SLICE
                    | SyntaxKind::SUFFIX_APPLY
            )
        }) {
            return Some(
                "which is indexed or called; cfgupdate edits only whole string literals".to_owned(),
            );
        }
        let parent = node.parent()?;
        match parent.kind() {
            SyntaxKind::EXPR_BINARY => {
                let operator = parent
                    .children_with_tokens()
                    .filter_map(|element| element.into_token())
                    .find(|token| {
                        !matches!(
                            token.kind(),
                            SyntaxKind::WHITESPACE
                                | SyntaxKind::SINGLE_LINE_SLASH_COMMENT
                                | SyntaxKind::SINGLE_LINE_HASH_COMMENT
                                | SyntaxKind::MULTI_LINE_COMMENT
                        )
                    })
                    .map(|token| token.text().to_owned())
                    .unwrap_or_default();
                return Some(format!(
                    "an operand of `{operator}`; cfgupdate edits only whole string literals, so write the whole value in one literal"
                ));
            }
            SyntaxKind::EXPR_PARENED => node = parent.parent()?,
            _ => return None,
        }
    }
}
