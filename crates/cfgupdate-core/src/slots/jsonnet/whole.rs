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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The string tokens of `text`, each with the tree's verdict and the shortcut's.
    fn verdicts(text: &str) -> Vec<(String, Option<String>, bool)> {
        let source = Source::parse("f.jsonnet", text).unwrap();
        (0..source.tokens.len())
            .filter(|&index| {
                super::super::literal::StringToken::of_kind(source.tokens[index].kind).is_some()
            })
            .map(|index| {
                (
                    source.text[source.tokens[index].range()].to_owned(),
                    refusal_by_tree(&source, index).unwrap(),
                    surely_whole(&source.tokens, index),
                )
            })
            .collect()
    }

    #[test]
    fn literals_between_plain_neighbours_are_whole_without_the_tree() {
        for text in [
            "{ image: 'reg/api:v1', b: 1 }",
            "{ image: 'reg/api:v1' }",
            "{ image:: 'reg/api:v1' /* c */ }",
            "{ image+: 'reg/api:v1' }",
            "local image = 'reg/api:v1'; image",
            "local image = 'reg/api:v1', tag = 'v1'; image",
            "[c.new('api', 'reg/api:v1')]",
            "[c.new(\n  'reg/api:v1',  // note\n  2)]",
            "['reg/api:v1', 'reg/web:v1']",
            "{ a: f(image='reg/api:v1') }",
            "x['reg/api:v1']",
        ] {
            let whole: Vec<_> = verdicts(text)
                .into_iter()
                .filter(|(literal, ..)| literal.contains("reg/"))
                .collect();
            assert!(!whole.is_empty(), "{text}");
            for (literal, tree, shortcut) in whole {
                assert_eq!(tree, None, "{text}: {literal}");
                assert!(shortcut, "{text}: {literal}");
            }
        }
    }

    #[test]
    fn literals_the_neighbours_cannot_vouch_for_are_left_to_the_tree() {
        for (text, refused) in [
            ("{ a: 'reg/api:' + tag }", true),
            ("{ a: tag + 'reg/api' }", true),
            ("{ a: ('reg/api') + tag }", true),
            ("{ a: ('reg/api') }", false),
            ("{ a: -'reg/api' }", false),
            ("{ a: 'reg/api'.x }", true),
            ("{ a: 'reg/api'[0] }", true),
            ("{ a: 'reg/api' % [1] }", true),
            ("{ 'reg/api': 1 }", true),
            ("{ 'reg/api'(x): 1 }", true),
            ("{ a: import 'reg/api' }", true),
            ("{ a: f()('reg/api') }", false),
            ("{ a: if c then 'reg/api' else 'reg/web' }", false),
            ("{ a: 'reg/api' in b }", true),
            ("{ a: [x for x in 'reg/api'] }", false),
        ] {
            for (literal, tree, shortcut) in verdicts(text) {
                if literal.contains("reg/api") {
                    assert!(!shortcut, "{text}");
                    assert_eq!(tree.is_some(), refused, "{text}: {tree:?}");
                }
            }
        }
    }

    /// What the file's validity was before the evaluator's parser decided it: no lexical
    /// error, and no error from the tree parser.
    /// Whether the tree parser accepts `text`, judged as the product judges it: a panic of the
    /// third-party parser (it panics "already at end" on `'n'(p):: local z = +'s'; 's'`) is a
    /// refusal, never a failure of the property.
    fn tree_parser_accepts(text: &str) -> bool {
        std::panic::catch_unwind(|| {
            super::super::syntax::lex(text)
                .iter()
                .all(|token| token.kind.error_description().is_none())
                && jrsonnet_rowan_parser::parse(text).1.is_empty()
        })
        .unwrap_or(false)
    }

    fn expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("'s'".to_owned()),
            Just("\"d\"".to_owned()),
            Just("@'v'".to_owned()),
            Just("|||\n  t\n|||".to_owned()),
            Just("x".to_owned()),
            Just("1".to_owned()),
            Just("self".to_owned()),
            Just("true".to_owned()),
        ];
        leaf.prop_recursive(4, 40, 3, |inner| {
            let binary = prop_oneof![
                Just("+"),
                Just("-"),
                Just("*"),
                Just("%"),
                Just("=="),
                Just("<"),
                Just("&&"),
                Just("||"),
                Just("in"),
            ];
            let unary = prop_oneof![Just("-"), Just("!"), Just("+")];
            let field = prop_oneof![
                inner.clone().prop_map(|e| format!("a: {e}")),
                inner.clone().prop_map(|e| format!("'q': {e}")),
                inner.clone().prop_map(|e| format!("\"q\"+: {e}")),
                inner.clone().prop_map(|e| format!("b:: {e}")),
                (inner.clone(), inner.clone()).prop_map(|(k, e)| format!("[{k}]: {e}")),
                inner.clone().prop_map(|e| format!("m(p): {e}")),
                inner.clone().prop_map(|e| format!("'n'(p):: {e}")),
                inner.clone().prop_map(|e| format!("local y = {e}")),
                (inner.clone(), inner.clone()).prop_map(|(c, m)| format!("assert {c} : {m}")),
            ];
            let args = prop::collection::vec(inner.clone(), 0..3);
            prop_oneof![
                (inner.clone(), binary, inner.clone())
                    .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
                (unary, inner.clone()).prop_map(|(op, a)| format!("{op}{a}")),
                inner.clone().prop_map(|a| format!("({a})")),
                inner.clone().prop_map(|a| format!("{a} // c\n")),
                inner.clone().prop_map(|a| format!("/* c */ {a}")),
                inner.clone().prop_map(|a| format!("{a}.f")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}:{b}]")),
                (inner.clone(), args.clone())
                    .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
                args.clone()
                    .prop_map(|args| format!("f({})", args.join(", "))),
                inner.clone().prop_map(|a| format!("f(k={a})")),
                args.prop_map(|items| format!("[{}]", items.join(", "))),
                prop::collection::vec(field.clone(), 0..3)
                    .prop_map(|fields| format!("{{ {} }}", fields.join(", "))),
                (inner.clone(), prop::collection::vec(field, 0..2))
                    .prop_map(|(a, fields)| format!("{a} {{ {} }}", fields.join(", "))),
                (inner.clone(), inner.clone()).prop_map(|(v, b)| format!("local z = {v}; {b}")),
                (inner.clone(), inner.clone(), inner.clone())
                    .prop_map(|(c, t, e)| format!("if {c} then {t} else {e}")),
                inner.clone().prop_map(|b| format!("function(p) {b}")),
                Just("import 'i.libsonnet'".to_owned()),
                (inner.clone(), inner.clone()).prop_map(|(e, s)| format!("[{e} for x in {s}]")),
                inner.clone().prop_map(|e| format!("error {e}")),
                (inner.clone(), inner).prop_map(|(c, b)| format!("assert {c} : 'm'; {b}")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Wherever a literal sits, the verdict is the tree's: the neighbours vouch only for
        /// literals the tree finds whole.
        #[test]
        fn the_neighbours_never_vouch_for_a_literal_the_tree_refuses(text in expr()) {
            prop_assume!(tree_parser_accepts(&text));
            let source = Source::parse("f.jsonnet", &text).unwrap();
            for index in 0..source.tokens.len() {
                if super::super::literal::StringToken::of_kind(source.tokens[index].kind).is_none() {
                    continue;
                }
                let tree = refusal_by_tree(&source, index).unwrap();
                if surely_whole(&source.tokens, index) {
                    prop_assert_eq!(&tree, &None, "token {} of {:?}", index, text);
                }
                prop_assert_eq!(refusal(&source, index).unwrap(), tree);
            }
        }

        /// No file the tree parser accepts is refused now that the evaluator's parser decides
        /// validity. (The evaluator's parser accepts more: unary `+`, and `local`, `assert`
        /// and the like as an operand, as go-jsonnet does.)
        #[test]
        fn every_file_the_tree_parser_accepts_is_still_accepted(text in expr()) {
            prop_assume!(tree_parser_accepts(&text));
            let accepted = Source::parse("f.jsonnet", &text);
            prop_assert!(accepted.is_ok(), "{:?}: {:?}", text, accepted.err());
        }
    }
}
