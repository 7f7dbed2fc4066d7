//! Values from outside, as the log shows them: a request path, a webhook id, a caller's name
//! or an error sentence quoting a value from a body could otherwise forge log lines (a line
//! break), hide text (direction overrides) or make lines of any length.

use cfgupdate_core::adapter::push_escaped;

/// The longest value written into a log line, in characters.
const LONGEST: usize = 300;

/// `value` escaped (control and invisible format characters) and cut to a bounded length.
pub fn logged(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(LONGEST + 40));
    for (index, c) in value.chars().enumerate() {
        if index >= LONGEST {
            let left = value.chars().count() - index;
            out.push_str(&format!("…({left} more characters)"));
            return out;
        }
        push_escaped(&mut out, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_forge_a_log_line_or_make_a_long_one() {
        let forged = "/v1/images\n2026-12-01T00:00:00Z  INFO request method=POST code=200";
        let line = logged(forged);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("\\n2026"), "{line}");
        let long = "x".repeat(100_000);
        let line = logged(&long);
        assert!(line.len() < 400, "{}", line.len());
        assert!(line.ends_with("(99700 more characters)"), "{line}");
        assert_eq!(logged("api\u{202E}txt"), "api\\u{202e}txt");
    }
}
