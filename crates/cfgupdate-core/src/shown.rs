//! Values from outside, shown in error sentences: control characters escaped so a sentence
//! stays one line, and long values cut so an answer stays small.

/// The longest value shown whole, in characters.
const LONGEST: usize = 1000;

/// `value` as an error sentence shows it.
pub fn shown(value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| {
            let escape = c.is_control();
            let shown: Vec<char> = if escape {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect();
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
}
