//! How deep the evaluator's parser will recurse into a file, estimated from its tokens before
//! it is parsed: a file nested deeper than any configuration needs is refused with an error
//! instead of overflowing the stack and aborting the process.

use jrsonnet_rowan_parser::SyntaxKind;

/// The deepest nesting rendered. The parser recurses once per bracket and once per chained
/// `local`, `if`, `assert` or `function` with large frames; on the 1 GiB stack of an
/// evaluation thread a debug build managed 20,000 levels and overflowed at 40,000.
pub const MAX_NESTING: usize = 5_000;

/// An upper estimate of the parser's recursion depth for `text`: open brackets, plus, inside
/// each open bracket, the keywords that open a nested expression (their chains recurse).
pub fn nesting(text: &str) -> usize {
    // Per open level, the keywords seen at that level so far.
    let mut levels: Vec<usize> = vec![0];
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for lexeme in jrsonnet_lexer::Lexer::new(text) {
        match SyntaxKind::from_raw(lexeme.kind.into_raw()) {
            SyntaxKind::L_BRACE | SyntaxKind::L_BRACK | SyntaxKind::L_PAREN => {
                levels.push(0);
                depth += 1;
            }
            SyntaxKind::R_BRACE | SyntaxKind::R_BRACK | SyntaxKind::R_PAREN if levels.len() > 1 => {
                depth = depth.saturating_sub(1 + levels.pop().unwrap_or(0));
            }
            SyntaxKind::LOCAL_KW
            | SyntaxKind::IF_KW
            | SyntaxKind::ASSERT_KW
            | SyntaxKind::FUNCTION_KW => {
                if let Some(level) = levels.last_mut() {
                    *level += 1;
                }
                depth += 1;
            }
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_and_keyword_chains_count_and_closed_levels_do_not() {
        assert_eq!(nesting("{ a: [1, 2], b: (3) }"), 2);
        assert_eq!(nesting("local a = 1; local b = 2; { c: a + b }"), 3);
        assert_eq!(nesting("[[[[1]]]] + [[2]]"), 4);
        // Keywords inside a closed object no longer count once it closes.
        assert_eq!(nesting("{ x: local a = 1; local b = 2; a } + { y: 1 }"), 3);
        assert_eq!(
            nesting("'[[[[' // [[[[\n"),
            0,
            "strings and comments are not brackets"
        );
    }

    #[test]
    fn a_pathological_file_is_far_above_the_limit() {
        let deep = format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000));
        assert!(nesting(&deep) > MAX_NESTING);
        let locals: String = (0..50_000)
            .map(|i| format!("local l{i} = {i};\n"))
            .collect();
        assert!(nesting(&format!("{locals}1")) > MAX_NESTING);
    }
}
