//! go-jsonnet's stack limit for `tailstrict` calls.
//!
//! go-jsonnet does not count a call marked `tailstrict` against its stack limit (500 frames,
//! `--max-stack`): such a call replaces its caller's frame, so a tail-recursive function
//! marked `tailstrict` recurses 10,000 deep there (the official suite's `recursive_function`).
//! jrsonnet counts every call, and has no hook to count otherwise: its limit is one counter
//! (`jrsonnet_evaluator::stack`) that every call increments. So [`super::job::run_job`]
//! evaluates with the limit first, and when the evaluation stops with a stack overflow whose
//! frames, not counting `tailstrict` calls, are fewer than the limit (go-jsonnet would have
//! gone on), evaluates again with a limit [`DEEPER`] times higher, up to [`MAX_FACTOR`] times
//! the limit. A recursion that is not marked `tailstrict` is still refused at the limit, as
//! go-jsonnet refuses it; and jrsonnet grows its stack on the heap for calls, so the deeper
//! limit cannot overflow the thread's stack (memory stays bounded by the evaluator's limit).

use jrsonnet_evaluator::error::ErrorKind;

/// How much higher each new limit is than the one before.
pub(crate) const DEEPER: usize = 4;

/// The highest limit, as a multiple of the configured one: 50,000 frames for go-jsonnet's 500.
pub(crate) const MAX_FACTOR: usize = 100;

/// Whether `error` is a stack overflow go-jsonnet would not have reached: its frames, not
/// counting the calls marked `tailstrict`, are fewer than `max_stack`.
pub(crate) fn go_would_go_on(error: &jrsonnet_evaluator::Error, max_stack: usize) -> bool {
    if !matches!(error.error(), ErrorKind::StackOverflow) {
        return false;
    }
    let counted = error
        .trace()
        .0
        .iter()
        .filter(|element| {
            !element
                .location
                .as_ref()
                .is_some_and(|span| is_tailstrict_call(span.0.code(), span.2 as usize))
        })
        .count();
    counted < max_stack
}

/// Whether the call whose arguments end at byte `end` of `code` is marked `tailstrict`: the
/// next token after the arguments (and their closing parenthesis, if the span stops before
/// it) is the keyword.
fn is_tailstrict_call(code: &str, end: usize) -> bool {
    let Some(rest) = code.get(end..) else {
        return false;
    };
    let rest = skip_space(rest);
    let rest = rest.strip_prefix(')').map_or(rest, skip_space);
    rest.strip_prefix("tailstrict").is_some_and(|after| {
        !after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `text` without its leading white space and comments (`//`, `#`, `/* */`).
fn skip_space(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start();
        if let Some(comment) = trimmed
            .strip_prefix("//")
            .or_else(|| trimmed.strip_prefix('#'))
        {
            text = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = trimmed.strip_prefix("/*") {
            text = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return trimmed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyword_after_the_arguments_marks_the_call() {
        let code = "f(x - 1) tailstrict; g(1) /* c */\n tailstrict; h(2) tailstricter; k(3)";
        assert!(is_tailstrict_call(code, 7));
        assert!(is_tailstrict_call(code, 8));
        let g = code.find("g(1)").unwrap() + 3;
        assert!(is_tailstrict_call(code, g));
        let h = code.find("h(2)").unwrap() + 3;
        assert!(!is_tailstrict_call(code, h));
        assert!(!is_tailstrict_call(code, code.len()));
        assert!(!is_tailstrict_call(code, code.len() + 5));
    }
}
