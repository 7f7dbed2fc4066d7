//! Jsonnet string literals: their quote styles, and the escaping that keeps a written value
//! inside its literal.

use std::ops::Range;

use jrsonnet_rowan_parser::SyntaxKind;

use crate::slots::escape::escape_quoted;

/// How a string literal is quoted. Text blocks (`|||`) are not a style cfgupdate writes: their
/// value carries the block's indentation rules and a trailing newline, which no image reference
/// has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// `"..."` with backslash escapes.
    Double,
    /// `'...'` with backslash escapes.
    Single,
    /// `@"..."`, where only `""` is special.
    VerbatimDouble,
    /// `@'...'`, where only `''` is special.
    VerbatimSingle,
}

/// What a string token is, as far as slots care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StringToken {
    /// A well-formed quoted literal.
    Quoted(Style),
    /// A well-formed `|||` text block.
    Block,
}

impl StringToken {
    /// The string token of `kind`, if it is a well-formed string literal.
    pub(super) fn of_kind(kind: SyntaxKind) -> Option<StringToken> {
        match kind {
            SyntaxKind::STRING_DOUBLE => Some(StringToken::Quoted(Style::Double)),
            SyntaxKind::STRING_SINGLE => Some(StringToken::Quoted(Style::Single)),
            SyntaxKind::STRING_DOUBLE_VERBATIM => Some(StringToken::Quoted(Style::VerbatimDouble)),
            SyntaxKind::STRING_SINGLE_VERBATIM => Some(StringToken::Quoted(Style::VerbatimSingle)),
            SyntaxKind::STRING_BLOCK => Some(StringToken::Block),
            _ => None,
        }
    }
}

impl Style {
    /// The bytes of a token of this style that hold its content, without the quotes.
    pub(super) fn content_range(self, token: Range<usize>) -> Range<usize> {
        let open = match self {
            Style::Double | Style::Single => 1,
            Style::VerbatimDouble | Style::VerbatimSingle => 2,
        };
        token.start + open..token.end - 1
    }

    /// The value a literal's content stands for; `None` when an escape is invalid.
    pub(super) fn unescape(self, content: &str) -> Option<String> {
        match self {
            Style::Double | Style::Single => unescape_backslashes(content),
            Style::VerbatimDouble => Some(content.replace("\"\"", "\"")),
            Style::VerbatimSingle => Some(content.replace("''", "'")),
        }
    }

    /// The content that stands for `value` in a literal of this style. Every quote and
    /// backslash is escaped, so the result can never end the literal early.
    pub(super) fn escape(self, value: &str) -> String {
        match self {
            Style::Double => escape_quoted(value, '"'),
            Style::Single => escape_quoted(value, '\''),
            Style::VerbatimDouble => value.replace('"', "\"\""),
            Style::VerbatimSingle => value.replace('\'', "''"),
        }
    }
}

/// Jsonnet's escapes (as go-jsonnet reads them): `\" \' \\ \/ \b \f \n \r \t \uXXXX`, with
/// UTF-16 surrogate pairs joined.
fn unescape_backslashes(content: &str) -> Option<String> {
    if !content.contains('\\') {
        return Some(content.to_owned());
    }
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            c @ ('"' | '\'' | '\\' | '/') => out.push(c),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let high = hex4(&mut chars)?;
                let code = match high {
                    0xD800..=0xDBFF => {
                        if chars.next()? != '\\' || chars.next()? != 'u' {
                            return None;
                        }
                        let low = hex4(&mut chars)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return None,
                    code => code,
                };
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut code = 0;
    for _ in 0..4 {
        code = code * 16 + chars.next()?.to_digit(16)?;
    }
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STYLES: [(Style, &str, &str); 4] = [
        (Style::Double, "\"", "\""),
        (Style::Single, "'", "'"),
        (Style::VerbatimDouble, "@\"", "\""),
        (Style::VerbatimSingle, "@'", "'"),
    ];

    #[test]
    fn backslash_escapes_read_as_go_jsonnet_reads_them() {
        assert_eq!(
            Style::Double.unescape(r#"a\"b\'c\\d\/e\n\t\u00e9\ud83d\ude00"#),
            Some("a\"b'c\\d/e\n\té😀".to_owned())
        );
        for bad in [r"\q", r"\", r"\u12", r"\ud83d", r"\ude00", r"\ud83dx"] {
            assert_eq!(Style::Single.unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn verbatim_literals_read_doubled_quotes_as_one() {
        assert_eq!(
            Style::VerbatimSingle.unescape(r"it''s \n"),
            Some(r"it's \n".to_owned())
        );
        assert_eq!(
            Style::VerbatimDouble.unescape(r#"say ""hi"""#),
            Some(r#"say "hi""#.to_owned())
        );
    }

    proptest! {
        /// Whatever the value, its escaped form lexes as exactly one literal of the same
        /// style (so it cannot end the literal early) and reads back as the value.
        #[test]
        fn escaped_values_stay_one_literal_and_read_back(value in any::<String>()) {
            for (style, open, close) in STYLES {
                let literal = format!("{open}{}{close}", style.escape(&value));
                let lexemes = jrsonnet_lexer::lex(&literal);
                prop_assert_eq!(lexemes.len(), 1, "{:?} lexed as {:?}", literal, lexemes);
                let kind = SyntaxKind::from_raw(lexemes[0].kind.into_raw());
                prop_assert_eq!(StringToken::of_kind(kind), Some(StringToken::Quoted(style)));
                let content = &literal[style.content_range(0..literal.len())];
                prop_assert_eq!(style.unescape(content), Some(value.clone()));
            }
        }
    }
}
