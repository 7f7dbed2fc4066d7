//! A JSON scanner that keeps the byte span of every key and value.
//!
//! serde_json forgets where things were; an edit that must leave every other byte alone needs
//! to know exactly which characters a string literal occupies. The scanner accepts exactly
//! RFC 8259 JSON (plus a leading byte-order mark, which editors on Windows write) and builds a
//! small tree; it never normalises anything.

use std::ops::Range;

/// Deeper nesting than this is refused, so a hostile file cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// A JSON value and the bytes it occupies.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// From the first byte of the value to one past its last (quotes and brackets included).
    pub(crate) span: Range<usize>,
    /// What the value is.
    pub(crate) kind: Kind,
}

/// The kinds of JSON value, with what the image-file rules need to know of each.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A string, unescaped.
    String(String),
    /// A number; its text is in the span.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
    /// An array.
    Array(Vec<Node>),
    /// An object, its members in file order (duplicates kept: the caller decides).
    Object(Vec<Member>),
}

impl Kind {
    /// The kind's name as an error message uses it ("found a number").
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Kind::String(_) => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
            Kind::Array(_) => "an array",
            Kind::Object(_) => "an object",
        }
    }
}

/// One `"key": value` of an object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    /// The key, unescaped.
    pub(crate) key: String,
    /// The key's literal, quotes included.
    pub(crate) key_span: Range<usize>,
    /// The value.
    pub(crate) value: Node,
}

/// Where and why the text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// The byte offset of the fault.
    pub(crate) offset: usize,
    /// What is wrong, in words.
    pub(crate) message: String,
}

/// Scans a whole JSON text: one value, with only whitespace around it.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
        depth: 0,
    };
    scanner.skip_whitespace();
    if scanner.peek().is_none() {
        return Err(scanner.error("the file holds no JSON value"));
    }
    let node = scanner.value()?;
    scanner.skip_whitespace();
    if scanner.peek().is_some() {
        let found = scanner.found();
        return Err(scanner.error(format!(
            "unexpected {found} after the end of the top-level value"
        )));
    }
    Ok(node)
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// Always on a character boundary: only ASCII bytes are stepped over one at a time,
    /// and string contents are consumed up to an ASCII delimiter.
    pos: usize,
    depth: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            offset,
            message: message.into(),
        }
    }

    /// The character at the current position, for messages.
    fn found(&self) -> String {
        match self.text[self.pos..].chars().next() {
            None => "the end of the file".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => {
                let start = self.pos;
                let value = self.string()?;
                Ok(Node {
                    span: start..self.pos,
                    kind: Kind::String(value),
                })
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Kind::Bool),
            Some(b'f') => self.literal("false", Kind::Bool),
            Some(b'n') => self.literal("null", Kind::Null),
            _ => {
                let found = self.found();
                Err(self.error(format!("expected a JSON value, found {found}")))
            }
        }
    }

    fn nested(
        &mut self,
        scan: fn(&mut Self) -> Result<Node, SyntaxError>,
    ) -> Result<Node, SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("values are nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let node = scan(self);
        self.depth -= 1;
        node
    }

    fn object(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Node {
                span: start..self.pos,
                kind: Kind::Object(members),
            });
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') if !members.is_empty() => {
                    return Err(self.error("a comma before `}` is not allowed in JSON"));
                }
                _ => {
                    let found = self.found();
                    return Err(
                        self.error(format!("expected a key in double quotes, found {found}"))
                    );
                }
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                let found = self.found();
                return Err(
                    self.error(format!("expected `:` after the key {key:?}, found {found}"))
                );
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value()?;
            members.push(Member {
                key,
                key_span,
                value,
            });
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Node {
                        span: start..self.pos,
                        kind: Kind::Object(members),
                    });
                }
                _ => {
                    let found = self.found();
                    return Err(self.error(format!(
                        "expected `,` or `}}` after a member of the object, found {found}"
                    )));
                }
            }
        }
    }

    fn array(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Node {
                span: start..self.pos,
                kind: Kind::Array(items),
            });
        }
        loop {
            self.skip_whitespace();
            if self.peek() == Some(b']') {
                return Err(self.error("a comma before `]` is not allowed in JSON"));
            }
            items.push(self.value()?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Node {
                        span: start..self.pos,
                        kind: Kind::Array(items),
                    });
                }
                _ => {
                    let found = self.found();
                    return Err(self.error(format!(
                        "expected `,` or `]` after an item of the array, found {found}"
                    )));
                }
            }
        }
    }

    /// Scans a string literal starting at its opening quote; returns it unescaped.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(start, "a string is never closed")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => out.push(self.escape()?),
                Some(b) if b < 0x20 => {
                    return Err(self.error(format!(
                        "a string holds the control character U+{b:04X}; JSON needs it escaped"
                    )));
                }
                Some(_) => {
                    let run_start = self.pos;
                    while let Some(b) = self.peek() {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(&self.text[run_start..self.pos]);
                }
            }
        }
    }

    /// Scans one escape sequence starting at its backslash.
    fn escape(&mut self) -> Result<char, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let Some(letter) = self.peek() else {
            return Err(self.error_at(start, "a string is never closed"));
        };
        self.pos += 1;
        let c = match letter {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4(start)?;
                match unit {
                    0xD800..=0xDBFF => {
                        let low_start = self.pos;
                        if !self.text[self.pos..].starts_with("\\u") {
                            return Err(self.error_at(start, "a `\\u` escape is half of a surrogate pair whose other half is missing"));
                        }
                        self.pos += 2;
                        let low = self.hex4(low_start)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error_at(start, "a `\\u` escape is half of a surrogate pair whose other half is missing"));
                        }
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(code).ok_or_else(|| {
                            self.error_at(start, "a `\\u` escape names no character")
                        })?
                    }
                    0xDC00..=0xDFFF => {
                        return Err(self.error_at(start, "a `\\u` escape is half of a surrogate pair whose other half is missing"));
                    }
                    _ => char::from_u32(unit)
                        .ok_or_else(|| self.error_at(start, "a `\\u` escape names no character"))?,
                }
            }
            _ => {
                self.pos = start + 1;
                let found = self.found();
                return Err(self.error_at(
                    start,
                    format!("{found} after a backslash is not a JSON escape"),
                ));
            }
        };
        Ok(c)
    }

    /// Reads the four hex digits of a `\u` escape.
    fn hex4(&mut self, escape_start: usize) -> Result<u32, SyntaxError> {
        let digits = self.bytes.get(self.pos..self.pos + 4);
        let value = digits.and_then(|digits| {
            digits.iter().try_fold(0u32, |acc, &b| {
                char::from(b).to_digit(16).map(|d| acc * 16 + d)
            })
        });
        match value {
            Some(value) => {
                self.pos += 4;
                Ok(value)
            }
            None => Err(self.error_at(
                escape_start,
                "a `\\u` escape needs exactly four hexadecimal digits",
            )),
        }
    }

    fn number(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error_at(start, "a number needs a digit after `-`")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_at(start, "a number needs a digit after its decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_at(start, "a number needs a digit in its exponent"));
            }
            self.digits();
        }
        if let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = self.peek() {
            return Err(self.error_at(
                start,
                "a number is malformed (JSON allows no leading zeros and one sign, point and exponent)",
            ));
        }
        Ok(Node {
            span: start..self.pos,
            kind: Kind::Number,
        })
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Node, SyntaxError> {
        let start = self.pos;
        let rest = &self.bytes[self.pos..];
        let follows_word = rest.get(word.len()).is_some_and(u8::is_ascii_alphanumeric);
        if !rest.starts_with(word.as_bytes()) || follows_word {
            let found: String = self.text[start..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .take(20)
                .collect();
            return Err(self.error(format!(
                "expected a JSON value, found `{found}` (strings need double quotes)"
            )));
        }
        self.pos += word.len();
        Ok(Node {
            span: start..self.pos,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_of(node: &Node) -> &str {
        match &node.kind {
            Kind::String(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn members(node: &Node) -> &[Member] {
        match &node.kind {
            Kind::Object(m) => m,
            other => panic!("expected an object, got {other:?}"),
        }
    }

    fn error_line(text: &str) -> usize {
        let err = parse(text).unwrap_err();
        line_of(text, err.offset)
    }

    #[test]
    fn spans_cover_keys_and_values_exactly() {
        let text = "{\n  \"api\" : \"a:1\",\n  \"web\":{\"tag\":\"2\"}\n}\n";
        let root = parse(text).unwrap();
        assert_eq!(root.span, 0..text.len() - 1);
        let m = members(&root);
        assert_eq!(&text[m[0].key_span.clone()], "\"api\"");
        assert_eq!(&text[m[0].value.span.clone()], "\"a:1\"");
        assert_eq!(&text[m[1].value.span.clone()], "{\"tag\":\"2\"}");
        let inner = members(&m[1].value);
        assert_eq!(inner[0].key, "tag");
        assert_eq!(&text[inner[0].value.span.clone()], "\"2\"");
    }

    #[test]
    fn escapes_are_unescaped_and_spans_keep_the_escaped_text() {
        let text = r#"{"k\u0061y": "q\"b\\s\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#;
        let root = parse(text).unwrap();
        let m = members(&root);
        assert_eq!(m[0].key, "kay");
        assert_eq!(string_of(&m[0].value), "q\"b\\s/\u{8}\u{c}\n\r\té😀");
        assert_eq!(
            &text[m[0].value.span.clone()],
            r#""q\"b\\s\/\b\f\n\r\t\u00e9\ud83d\ude00""#
        );
    }

    #[test]
    fn non_ascii_text_is_kept_verbatim() {
        let text = "{\"équipe\": \"Ünïcode — ok\"}";
        let root = parse(text).unwrap();
        let m = members(&root);
        assert_eq!(m[0].key, "équipe");
        assert_eq!(string_of(&m[0].value), "Ünïcode — ok");
    }

    #[test]
    fn every_kind_of_value_is_accepted() {
        let text = r#"[0, -0, 1.5, -2e10, 3E+2, 4.25e-3, true, false, null, [], {}, [[1]], "s"]"#;
        let root = parse(text).unwrap();
        let Kind::Array(items) = &root.kind else {
            panic!("not an array")
        };
        assert_eq!(items.len(), 13);
        assert_eq!(items[0].kind, Kind::Number);
        assert_eq!(&text[items[5].span.clone()], "4.25e-3");
        assert_eq!(items[6].kind, Kind::Bool);
        assert_eq!(items[8].kind, Kind::Null);
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_caller_to_judge() {
        let root = parse(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(members(&root).len(), 2);
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let text = "\u{feff}{\"a\": \"b\"}";
        let root = parse(text).unwrap();
        assert_eq!(root.span.start, 3);
    }

    #[test]
    fn syntax_errors_name_the_line_of_the_fault() {
        assert_eq!(error_line("{\n  \"a\": \"b\",\n}\n"), 3);
        assert_eq!(error_line("{\n  \"a\": \"b\"\n  \"c\": 1\n}"), 3);
        assert_eq!(error_line("{\r\n  \"a\": tru\r\n}"), 2);
        assert_eq!(error_line("{\n\n  \"a\": \"never closed\n}"), 3);
        assert_eq!(error_line("{\"a\": 1}\n\n x"), 3);
        assert_eq!(error_line(""), 1);
    }

    #[test]
    fn malformed_text_is_refused() {
        let bad = [
            "",
            "   ",
            "{",
            "{\"a\"}",
            "{\"a\" 1}",
            "{a: 1}",
            "{'a': 1}",
            "[1,]",
            "[1 2]",
            "01",
            "1.",
            "1e",
            "-",
            "+1",
            "1.2.3",
            "\"tab\there\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "nul",
            "truex",
            "{} {}",
            "{\"a\": 1,}",
        ];
        for text in bad {
            assert!(parse(text).is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let text = "[".repeat(100_000);
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nested deeper"), "{}", err.message);
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn line_of_counts_from_one() {
        let text = "a\nb\r\nc";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 5), 3);
        assert_eq!(line_of(text, 999), 3);
    }
}
