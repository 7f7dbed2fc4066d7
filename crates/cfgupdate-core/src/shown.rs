//! Values from outside, shown in error sentences: control characters and invisible format
//! characters escaped so a sentence stays one line and reads as what it holds, and long values
//! cut so an answer stays small.

/// The longest value shown whole, in characters.
const LONGEST: usize = 1000;

/// Whether `c` must be escaped before a person reads it: control characters (line breaks,
/// NUL, escape sequences) and the invisible format characters that change how the text
/// around them reads (Unicode direction overrides and isolates, which can make `abc` display
/// as `cba` or hide part of a sentence; zero-width characters; the byte-order mark).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'                     // soft hyphen
            | '\u{061C}'                   // Arabic letter mark
            | '\u{180E}'                   // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'      // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'      // line/paragraph separators, embeddings, overrides
            | '\u{2060}'..='\u{206F}'      // word joiner, invisible operators, isolates
            | '\u{FEFF}'                   // byte-order mark
            | '\u{FFF9}'..='\u{FFFB}'      // interlinear annotation
        )
}

/// Writes `c` into `out` as an error sentence shows it: `\n`, `\r`, `\t` and `\u{...}` for
/// every character [`is_hidden`] names, the character itself otherwise.
pub fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

/// `value` as an error sentence shows it.
pub fn shown(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len().min(LONGEST * 4));
    for c in value.chars() {
        push_escaped(&mut escaped, c);
    }
    let length = escaped.chars().count();
    if length <= LONGEST {
        return escaped;
    }
    let head: String = escaped.chars().take(LONGEST / 2).collect();
    let tail: String = escaped.chars().skip(length - LONGEST / 2).collect();
    format!("{head}…({} more characters)…{tail}", length - LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_values_cut() {
        assert_eq!(shown("api"), "api");
        assert_eq!(shown("a\nb\r\0c"), "a\\nb\\r\\u{0}c");
        let long = "x".repeat(100_000);
        let cut = shown(&long);
        assert!(
            cut.len() < 1100 && cut.contains("99000 more characters"),
            "{cut}"
        );
    }

    #[test]
    fn direction_overrides_and_invisible_characters_are_escaped() {
        // "api" followed by a right-to-left override would display the rest reversed.
        assert_eq!(shown("api\u{202E}gnp.exe"), "api\\u{202e}gnp.exe");
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{200E}', '\u{200F}', '\u{FEFF}', '\u{2028}',
            '\u{061C}', '\u{00AD}',
        ] {
            let value = format!("a{c}b");
            let escaped = shown(&value);
            assert!(!escaped.contains(c), "{:x}: {escaped}", u32::from(c));
            assert!(
                escaped.starts_with("a\\u{") && escaped.ends_with("}b"),
                "{escaped}"
            );
        }
        // Visible non-ASCII text is kept as it is.
        assert_eq!(shown("café-Ελλάδα-日本"), "café-Ελλάδα-日本");
    }
}
