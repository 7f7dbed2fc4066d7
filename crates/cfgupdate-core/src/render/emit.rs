//! A YAML emitter for JSON values whose every scalar reads back as the same value under
//! YAML 1.1 (PyYAML), YAML 1.2 (ruamel.yaml, the core schema) and Kubernetes' reader
//! (`sigs.k8s.io/yaml`, go-yaml v2's resolution rules).
//!
//! The rule is a whitelist: a string is written plain only when it is made of characters that
//! mean nothing to any of these readers, does not start with an indicator, has no space at
//! either end, and does not look like a value of another type to any of them (booleans of
//! every YAML 1.1 spelling, null, numbers in every base and with `_` or `:` separators,
//! timestamps, `=`, `<<`). Everything else is double-quoted on one line, with every character
//! that a reader could drop, fold or refuse written as an escape. `docs/rendering.md` lists
//! the rule in full.

use std::fmt::Write;

use serde_json::{Map, Number, Value};

/// One YAML document for `value`: block style, two-space indentation, sequences not indented
/// under their key, keys in the map's order, ending in a newline.
pub fn document(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => sequence(items, 0, &mut out),
        scalar => {
            inline(scalar, &mut out);
            out.push('\n');
        }
    }
    out
}

fn indent(level: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', level));
}

/// `level` is the column of the keys. The caller has already placed the cursor at that
/// column for the first key (after `- ` in a sequence), or at the start of a line.
fn mapping(map: &Map<String, Value>, level: usize, out: &mut String) {
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            indent(level, out);
        }
        string(key, out);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                indent(level + 2, out);
                mapping(inner, level + 2, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                indent(level, out);
                sequence(items, level, out);
            }
            scalar => {
                out.push(' ');
                inline(scalar, out);
                out.push('\n');
            }
        }
    }
}

/// `level` is the column of the dashes; the cursor is there for the first one.
fn sequence(items: &[Value], level: usize, out: &mut String) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            indent(level, out);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(inner, level + 2, out),
            Value::Array(inner) if !inner.is_empty() => sequence(inner, level + 2, out),
            scalar => {
                inline(scalar, out);
                out.push('\n');
            }
        }
    }
}

/// A scalar, or an empty collection, on the current line.
fn inline(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number_text(number)),
        Value::String(text) => string(text, out),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A number as text that every reader takes for the same number.
///
/// Integers are written in decimal. A float with an integral value is written as the exact
/// decimal value of the double (as go-jsonnet writes it): every reader's integer, or its
/// float when the integer does not fit, is that same value. Any other float is written with
/// the fewest digits that read back as the same double, always with a `.`, and in exponent
/// form with a signed exponent when it is very small, because PyYAML (YAML 1.1) reads `1e-7`,
/// with no dot or no sign, as a string.
pub(crate) fn number_text(number: &Number) -> String {
    if let Some(integer) = number.as_i64() {
        return integer.to_string();
    }
    if let Some(integer) = number.as_u64() {
        return integer.to_string();
    }
    // Without `arbitrary_precision`, a number that is not an integer is a finite double.
    let float = number.as_f64().unwrap_or(0.0);
    float_text(float)
}

/// See [`number_text`]. `float` must be finite (Jsonnet has no other numbers).
pub(crate) fn float_text(float: f64) -> String {
    if float == float.trunc() {
        // Rust prints the exact value of an integral double in full, like C's `%.0f`; `-0`
        // stays `-0`, which every reader reads as the number zero.
        return format!("{float:.0}");
    }
    if float.abs() >= 1e-4 {
        // Fixed notation, shortest round trip, always with a fractional part here.
        return format!("{float}");
    }
    let text = format!("{float:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    let exponent = if exponent.starts_with('-') {
        exponent.to_owned()
    } else {
        format!("+{exponent}")
    };
    format!("{mantissa}e{exponent}")
}

/// A string, plain when [`is_plain_safe`] allows it, else double-quoted.
fn string(text: &str, out: &mut String) {
    if is_plain_safe(text) {
        out.push_str(text);
    } else {
        double_quoted(text, out);
    }
}

/// Whether `text` may be written as a plain scalar: it reads back as this very string under
/// YAML 1.1, YAML 1.2 and go-yaml v2, as a key or a value, in block context.
pub(crate) fn is_plain_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    let first_ok = first.is_ascii_alphanumeric()
        || matches!(first, b'_' | b'.' | b'/' | b'(')
        // `-x` and `--x` are plain, but `-`, `- x`, `---` and `-1` are not.
        || (first == b'-'
            && text
                .trim_start_matches('-')
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic())
            && !text.starts_with("---"));
    if !first_ok {
        return false;
    }
    let chars_ok = text.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                ' ' | '_'
                    | '-'
                    | '.'
                    | '/'
                    | ':'
                    | '@'
                    | '+'
                    | '='
                    | '%'
                    | '~'
                    | '('
                    | ')'
                    | '$'
                    | '^'
                    | '*'
                    | ','
            )
            || plain_non_ascii(c)
    });
    if !chars_ok || bytes.last() == Some(&b' ') || bytes.last() == Some(&b':') {
        return false;
    }
    if text.contains(": ") || text.contains("  ") {
        return false;
    }
    !looks_like_another_type(text)
}

/// Non-ASCII characters that every reader takes as ordinary text in a plain scalar: not the
/// C1 controls, NBSP, the Unicode spaces, zero-width and direction marks, line and paragraph
/// separators (U+2000 to U+206F), the ideographic space, the byte order mark, the specials
/// block, or anything outside the Basic Multilingual Plane.
fn plain_non_ascii(c: char) -> bool {
    matches!(u32::from(c), 0xa1..=0x167f | 0x1681..=0x1fff | 0x2070..=0x2fff | 0x3001..=0xd7ff | 0xe000..=0xfefe | 0xff00..=0xffef)
}

/// Whether some reader resolves the plain scalar `text` to something other than a string.
/// Deliberately wider than any one schema: a string that merely resembles a number, a
/// boolean, a null or a timestamp is quoted.
fn looks_like_another_type(text: &str) -> bool {
    const WORDS: [&str; 14] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "nan", "inf", "infinity",
        "<<",
    ];
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let bare = unsigned.strip_prefix('.').unwrap_or(unsigned);
    if text == "=" || WORDS.contains(&lower.as_str()) || WORDS.contains(&bare) {
        return true;
    }
    // Every number-like form: decimal, with `_` separators, base 60 (`12:30:45`), dotted,
    // with an exponent, and the `0x`, `0o`, `0b` prefixes (go-yaml also reads hex floats).
    let mut rest = unsigned;
    if let Some(after) = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0o"))
        .or_else(|| rest.strip_prefix("0b"))
    {
        if after
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'_' | b'.' | b'p' | b'+' | b'-'))
        {
            return true;
        }
        rest = after;
    }
    let mantissa = match rest.find('e') {
        Some(at) => {
            let exponent = rest[at + 1..].trim_start_matches(['+', '-']);
            if !exponent.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
                return timestamp_like(text);
            }
            &rest[..at]
        }
        None => rest,
    };
    // ruamel.yaml's float pattern even takes `._` for a number (and then fails on it).
    if !mantissa.is_empty()
        && mantissa
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':'))
    {
        return true;
    }
    timestamp_like(text)
}

/// YAML 1.1 timestamps start with a date, `YYYY-M-D`.
fn timestamp_like(text: &str) -> bool {
    let mut parts = text.splitn(3, '-');
    let year = parts.next().unwrap_or("");
    let month = parts.next().unwrap_or("");
    let day: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&month.len())
        && month.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&day.len())
}

/// A double-quoted scalar on one line. Escaped: `"` and `\`, every C0 and C1 control
/// character and DEL, the line and paragraph separators (which YAML 1.1 readers and
/// `kubectl` take for line breaks), the byte order mark, the non-characters U+FFFE and
/// U+FFFF, and everything outside the Basic Multilingual Plane (so that no reader's
/// printable-character check can refuse the file).
fn double_quoted(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{0}' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) > 0xffff => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_collections_take_the_kubectl_layout() {
        let value = json!({
            "a": {"b": 1, "c": []},
            "d": [{"e": "x", "f": [1, 2]}, [3], {}],
            "g": {},
        });
        assert_eq!(
            document(&value),
            "a:\n  b: 1\n  c: []\nd:\n- e: x\n  f:\n  - 1\n  - 2\n- - 3\n- {}\ng: {}\n"
        );
    }

    #[test]
    fn strings_that_read_back_as_something_else_are_quoted() {
        for text in [
            "",
            " x",
            "x ",
            "2022-11-01T00:00:00Z",
            "2001-12-14",
            "12:30",
            "12:30:45",
            "=",
            "<<",
            "yes",
            "No",
            "ON",
            "y",
            "N",
            "~",
            "null",
            "NULL",
            ".inf",
            "-.Inf",
            ".NaN",
            "0777",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "+1",
            ".5",
            "1e3",
            "1E+3",
            "-1",
            "1.5",
            "-",
            "?x",
            ":x",
            ",x",
            "[x",
            "{x",
            "#x",
            "&x",
            "*x",
            "!x",
            "|x",
            ">x",
            "'x",
            "\"x",
            "%x",
            "@x",
            "`x",
            "a: b",
            "a #b",
            "a:",
            "---",
            "a\u{2028}b",
            "a\u{85}b",
            "\u{feff}x",
            "a\tb",
            "a\nb",
            "a  b",
        ] {
            assert!(!is_plain_safe(text), "{text:?} would be written plain");
        }
        for text in [
            "api",
            "500m",
            "256Mi",
            "--yes",
            "registry.example.com/a/b:1.4.0@sha256:0a",
            "a=b",
            "app.kubernetes.io/name",
            "hello world",
            "x:y",
            "v1",
            "1.4.0-rc1",
            "grüße ✓",
            "0 3 * * *",
            "a,b",
        ] {
            assert!(is_plain_safe(text), "{text:?} would be quoted");
        }
    }

    #[test]
    fn escapes_keep_line_breaking_and_invisible_characters_visible() {
        let mut out = String::new();
        double_quoted(
            "a\u{2028}b\u{2029}c\u{85}d\u{feff}e\u{7f}\u{1}\"\\\u{1F600}",
            &mut out,
        );
        assert_eq!(
            out,
            "\"a\\Lb\\Pc\\Nd\\ufeffe\\x7f\\x01\\\"\\\\\\U0001f600\""
        );
    }

    #[test]
    fn floats_keep_their_exact_value_and_read_as_floats_in_yaml_1_1() {
        assert_eq!(float_text(0.2), "0.2");
        assert_eq!(float_text(227264.0 + 1.0 / 3.0), "227264.33333333334");
        assert_eq!(float_text(1e-7), "1.0e-7");
        assert_eq!(float_text(1.5e-300), "1.5e-300");
        assert_eq!(float_text(1e23), "99999999999999991611392");
        assert_eq!(float_text(-0.0), "-0");
        assert_eq!(float_text(3.0), "3");
    }
}
