//! Where a whole literal is used, as far as it decides whether the literal can hold an image:
//! a literal that a function or operator turns into another string, that names an object, or
//! that is an error message is never an image slot, whatever its value looks like.
//!
//! Refused, with the reason:
//! - an element or field of the right side of `%` (`'%s:%s' % ['quay.io/x', tag]`); the left
//!   side and a plain right side are operands, which `whole.rs` refuses already;
//! - an argument of a string-building function of the standard library, or an element of an
//!   array passed to one ([`STRING_FUNCTIONS`]: `std.format('%s:%s', ['quay.io/x', tag])`,
//!   `std.join(':', ['quay.io/x', tag])`);
//! - the first of several arguments of a `new` call (`container.new('kafka', image)`), which in
//!   ksonnet, k8s-libsonnet and their descendants is the object's name;
//! - the message of `error`.
//!
//! These are read from the tokens: the brackets that enclose the literal, and the tokens just
//! before them. One pass over the tokens finds the enclosing brackets of every literal asked
//! about, so a file with a thousand markers costs one walk, not a thousand.

use jrsonnet_rowan_parser::SyntaxKind;

use super::syntax::Token;

/// The functions of `std` whose string arguments are pieces of a string they build, not
/// values used as they are.
pub(super) const STRING_FUNCTIONS: &[&str] = &[
    "format",
    "join",
    "strReplace",
    "substr",
    "split",
    "splitLimit",
    "splitLimitR",
    "stripChars",
    "lstripChars",
    "rstripChars",
    "asciiLower",
    "asciiUpper",
    "escapeStringJson",
    "escapeStringBash",
    "escapeStringDollars",
    "escapeStringPython",
    "escapeStringXML",
    "base64",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "char",
    "stringChars",
    "parseInt",
    "parseJson",
    "parseYaml",
];

/// The refusal of each literal of `literals` (token indices, ascending), in the same order:
/// `None` where its surroundings allow an image.
pub(super) fn refusals(tokens: &[Token], text: &str, literals: &[usize]) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(literals.len());
    let mut open: Vec<usize> = Vec::new();
    let mut wanted = literals.iter().copied().peekable();
    for (index, token) in tokens.iter().enumerate() {
        if wanted.peek().is_none() {
            break;
        }
        if wanted.peek() == Some(&index) {
            wanted.next();
            out.push(refusal(tokens, text, &open, index));
            continue;
        }
        match token.kind {
            SyntaxKind::L_BRACE | SyntaxKind::L_BRACK | SyntaxKind::L_PAREN => open.push(index),
            SyntaxKind::R_BRACE | SyntaxKind::R_BRACK | SyntaxKind::R_PAREN => {
                open.pop();
            }
            _ => {}
        }
    }
    // Indices past the end (none in practice) are not refused here.
    out.resize(literals.len(), None);
    out
}

use crate::render::nesting::is_trivia;

/// The index of the last significant token before `index`.
fn before(tokens: &[Token], index: usize) -> Option<usize> {
    (0..index).rev().find(|&i| !is_trivia(tokens[i].kind))
}

/// The index of the first significant token after `index`.
fn after(tokens: &[Token], index: usize) -> Option<usize> {
    (index + 1..tokens.len()).find(|&i| !is_trivia(tokens[i].kind))
}

fn kind_at(tokens: &[Token], index: Option<usize>) -> Option<SyntaxKind> {
    index.map(|i| tokens[i].kind)
}

/// The function called by the `(` at `paren`: `Some(("std", "format"))` for `std.format(`,
/// `Some(("container", "new"))` for `container.new(`, `Some(("", "f"))` for `f(`.
fn callee<'t>(tokens: &[Token], text: &'t str, paren: usize) -> Option<(&'t str, &'t str)> {
    let name = before(tokens, paren)?;
    if tokens[name].kind != SyntaxKind::IDENT {
        return None;
    }
    let function = &text[tokens[name].range()];
    let dot = before(tokens, name);
    if kind_at(tokens, dot) != Some(SyntaxKind::DOT) {
        return Some(("", function));
    }
    let object = dot.and_then(|dot| before(tokens, dot));
    match object {
        Some(object) if tokens[object].kind == SyntaxKind::IDENT => {
            Some((&text[tokens[object].range()], function))
        }
        _ => Some(("", function)),
    }
}

/// Whether the `(` at `paren` opens the arguments of a string-building `std` function; its
/// name if so.
fn string_function<'t>(tokens: &[Token], text: &'t str, paren: usize) -> Option<&'t str> {
    match callee(tokens, text, paren)? {
        ("std", function) if STRING_FUNCTIONS.contains(&function) => Some(function),
        _ => None,
    }
}

fn refusal(tokens: &[Token], text: &str, open: &[usize], literal: usize) -> Option<String> {
    let previous = before(tokens, literal);
    if kind_at(tokens, previous) == Some(SyntaxKind::ERROR_KW) {
        return Some("the message of `error`, not an image".to_owned());
    }
    let &enclosing = open.last()?;
    match tokens[enclosing].kind {
        SyntaxKind::L_PAREN => {
            if kind_at(tokens, before(tokens, enclosing)) == Some(SyntaxKind::ERROR_KW) {
                return Some("the message of `error`, not an image".to_owned());
            }
            if let Some(function) = string_function(tokens, text, enclosing) {
                return Some(format!(
                    "an argument of `std.{function}`, which builds a string from it; write the whole reference in one literal"
                ));
            }
            if let Some((object, "new")) = callee(tokens, text, enclosing)
                && previous == Some(enclosing)
                && kind_at(tokens, after(tokens, literal)) == Some(SyntaxKind::COMMA)
            {
                let call = if object.is_empty() {
                    "new(...)".to_owned()
                } else {
                    format!("{object}.new(...)")
                };
                return Some(format!(
                    "the first argument of `{call}`, which names the object (a container's name), not its image"
                ));
            }
            None
        }
        SyntaxKind::L_BRACK | SyntaxKind::L_BRACE => {
            let opener = before(tokens, enclosing);
            if kind_at(tokens, opener) == Some(SyntaxKind::MODULO) {
                return Some(
                    "a value formatted into a string by `%`; write the whole reference in one literal"
                        .to_owned(),
                );
            }
            // An array passed to a string function: `std.join(':', ['reg/api', tag])`.
            if tokens[enclosing].kind == SyntaxKind::L_BRACK
                && matches!(
                    kind_at(tokens, opener),
                    Some(SyntaxKind::L_PAREN | SyntaxKind::COMMA)
                )
                && open.len() >= 2
                && tokens[open[open.len() - 2]].kind == SyntaxKind::L_PAREN
                && let Some(function) = string_function(tokens, text, open[open.len() - 2])
            {
                return Some(format!(
                    "an element of an array passed to `std.{function}`, which builds a string from it; write the whole reference in one literal"
                ));
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::literal::StringToken;
    use super::super::syntax::lex;
    use super::*;

    /// The refusal of the literal whose text is `literal` in `text`.
    fn refusal_of(text: &str, literal: &str) -> Option<String> {
        let tokens = lex(text);
        let index = (0..tokens.len())
            .find(|&i| {
                StringToken::of_kind(tokens[i].kind).is_some()
                    && &text[tokens[i].range()] == literal
            })
            .unwrap();
        refusals(&tokens, text, &[index]).remove(0)
    }

    #[test]
    fn literals_turned_into_other_strings_are_refused() {
        for (text, literal, expected) in [
            ("{ a: '%s:%s' % ['quay.io/x', t] }", "'quay.io/x'", "`%`"),
            ("{ a: '%(r)s' % { r: 'quay.io/x' } }", "'quay.io/x'", "`%`"),
            (
                "{ a: std.format('%s:%s', ['quay.io/x', t]) }",
                "'quay.io/x'",
                "std.format",
            ),
            (
                "{ a: std.format('quay.io/x:%s', t) }",
                "'quay.io/x:%s'",
                "std.format",
            ),
            (
                "{ a: std.join(':', ['quay.io/x', t]) }",
                "'quay.io/x'",
                "std.join",
            ),
            (
                "{ a: std.join('', [\n 'quay.io/x:',\n t]) }",
                "'quay.io/x:'",
                "std.join",
            ),
            ("[c.new('kafka', img)]", "'kafka'", "container's name"),
            (
                "[container.new('kafka', 'reg/kafka:1')]",
                "'kafka'",
                "`container.new(...)`",
            ),
            (
                "{ a: error 'must provide image' }",
                "'must provide image'",
                "`error`",
            ),
        ] {
            let why = refusal_of(text, literal);
            assert!(
                why.as_deref().is_some_and(|why| why.contains(expected)),
                "{text}: {why:?}"
            );
        }
    }

    #[test]
    fn image_literals_in_ordinary_places_are_not_refused() {
        for (text, literal) in [
            ("{ image: 'reg/api:v1' }", "'reg/api:v1'"),
            ("[c.new('kafka', 'reg/kafka:1')]", "'reg/kafka:1'"),
            ("[c.new('reg/kafka:1')]", "'reg/kafka:1'"),
            ("{ a: std.get(x, 'k', 'reg/api:v1') }", "'reg/api:v1'"),
            ("{ a: f(['reg/api:v1']) }", "'reg/api:v1'"),
            ("{ a: [x % 2, 'reg/api:v1'] }", "'reg/api:v1'"),
            (
                "{ a: std.format('%s', t), b: 'reg/api:v1' }",
                "'reg/api:v1'",
            ),
            ("{ a: std.join(':', x) + ['reg/api:v1'] }", "'reg/api:v1'"),
            (
                "{ a: if c then error 'no' else 'reg/api:v1' }",
                "'reg/api:v1'",
            ),
        ] {
            assert_eq!(refusal_of(text, literal), None, "{text}");
        }
    }
}
