//! The one string escaper of the slot editors: JSON string literals and Jsonnet's quoted ones
//! (whose backslash escapes are JSON's) are written by the same function.

use std::fmt::Write as _;

/// The content of a literal quoted with `quote` (`"` for JSON and Jsonnet, `'` for Jsonnet)
/// that stands for `value`. Escaped: the quote and the backslash, so the result can never end
/// the literal early; every control character (C0, DEL, C1), so it never breaks the line; and
/// the line and paragraph separators U+2028 and U+2029, which JavaScript readers take for line
/// breaks. Characters outside the Basic Multilingual Plane that need escaping are written as
/// UTF-16 surrogate pairs, as JSON requires.
pub(crate) fn escape_quoted(value: &str, quote: char) -> String {
    // Image references are printable ASCII without quotes or backslashes: nothing to escape.
    if value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'\\' && char::from(b) != quote)
    {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Writing into a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_controls_and_separators_are_escaped_as_json_reads_them() {
        let value = "a\"b'c\\d\ne\r\t\u{8}\u{c}\u{1}\u{7f}\u{85}\u{2028}\u{2029}é😀";
        let escaped = escape_quoted(value, '"');
        assert_eq!(
            escaped,
            "a\\\"b'c\\\\d\\ne\\r\\t\\b\\f\\u0001\\u007f\\u0085\\u2028\\u2029é😀"
        );
        let read: String = serde_json::from_str(&format!("\"{escaped}\"")).unwrap();
        assert_eq!(read, value);
        assert_eq!(escape_quoted("it's", '\''), "it\\'s");
        assert_eq!(
            escape_quoted("reg.example.com/api:v1", '"'),
            "reg.example.com/api:v1"
        );
    }
}
