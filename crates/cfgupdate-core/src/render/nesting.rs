//! How deep a Jsonnet file's syntax tree can be, bounded from its tokens before any parser sees
//! it: a file deeper than any configuration needs is refused with an error naming it, instead of
//! overflowing a parser's or the evaluator's stack and aborting the process (issue 11).
//!
//! Both parsers cfgupdate runs (`jrsonnet-ir-parser` for evaluation, `jrsonnet-rowan-parser`
//! for editing) are recursive descent, and the evaluator, its static analysis and the drop of
//! the tree all recurse along the tree. Every recursive production is entered through a token:
//! a bracket, a prefix or binary operator, `.`, or one of the keywords `local`, `if`,
//! `function`, `assert`, `error`, `import`, `importstr`, `importbin`, `for`, `in`. A binary
//! chain such as `a + a + ... + a` does not make the parser recurse, but it builds a tree as
//! deep as it is long, which the evaluator then recurses down; so every such token counts.
//!
//! The bound: inside one bracket, each path from the top of the tree down passes through at
//! most one node per counted token of that bracket (since the last `,`, which starts a sibling)
//! and then into one of the bracket's nested brackets; so the depth is at most the counted
//! tokens plus the deepest nested bracket, summed over the open brackets. Expression `local`
//! and `assert` are read like brackets closed by their `;` (their bindings, separated by
//! commas, are siblings); the body after the `;` nests under them and is counted in the
//! enclosing bracket. The estimate is never below the real depth; it is above it by a small
//! factor for ordinary code.

use jrsonnet_rowan_parser::SyntaxKind;

/// The deepest estimated nesting parsed or rendered. Real configurations stay within a few
/// hundred (a long `+` chain of mixins, a few hundred top-level `local`s); the figures in
/// `docs/rendering.md` show what each stack takes at this depth.
pub const MAX_DEPTH: usize = 6_000;

/// A file whose estimated depth passes the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    /// The estimated depth where the limit was passed.
    pub depth: usize,
    /// The byte offset of the token that passed it.
    pub offset: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opened {
    Root,
    Brace,
    Other,
    /// An expression `local` or `assert`, closed by its `;`.
    Statement,
}

struct Frame {
    opened: Opened,
    /// The deepest of the siblings before the last `,`.
    best: usize,
    /// Counted tokens since the last `,`.
    count: usize,
    /// The deepest nested bracket since the last `,`.
    inner: usize,
    /// The depth of the frames below, when this one was opened.
    below: usize,
}

impl Frame {
    fn new(opened: Opened, below: usize) -> Self {
        Frame {
            opened,
            best: 0,
            count: 0,
            inner: 0,
            below,
        }
    }

    fn value(&self) -> usize {
        self.best.max(self.count + self.inner)
    }
}

/// The estimated depth of `text`, or where it passes `limit`.
pub fn check(text: &str, limit: usize) -> Result<usize, TooDeep> {
    check_tokens(
        jrsonnet_lexer::Lexer::new(text).map(|lexeme| {
            (
                SyntaxKind::from_raw(lexeme.kind.into_raw()),
                lexeme.range.0 as usize,
            )
        }),
        limit,
    )
}

/// [`check`] over tokens already lexed: each token's kind and start offset.
pub(crate) fn check_tokens(
    tokens: impl IntoIterator<Item = (SyntaxKind, usize)>,
    limit: usize,
) -> Result<usize, TooDeep> {
    let mut frames = vec![Frame::new(Opened::Root, 0)];
    let mut previous = SyntaxKind::EOF;
    let mut deepest = 0usize;
    for (kind, offset) in tokens {
        if is_trivia(kind) {
            continue;
        }
        let at_member_start = matches!(previous, SyntaxKind::L_BRACE | SyntaxKind::COMMA);
        previous = kind;
        let Some(top) = frames.last_mut() else {
            break;
        };
        match kind {
            SyntaxKind::L_BRACE | SyntaxKind::L_BRACK | SyntaxKind::L_PAREN => {
                top.count += 1;
                let below = top.below + top.value() + 1;
                let opened = if kind == SyntaxKind::L_BRACE {
                    Opened::Brace
                } else {
                    Opened::Other
                };
                frames.push(Frame::new(opened, below));
            }
            SyntaxKind::R_BRACE | SyntaxKind::R_BRACK | SyntaxKind::R_PAREN => {
                // Close statements left open inside the bracket, then the bracket itself.
                while frames.len() > 1 {
                    let closed = close(&mut frames);
                    if matches!(closed, Opened::Brace | Opened::Other) {
                        break;
                    }
                }
            }
            SyntaxKind::LOCAL_KW | SyntaxKind::ASSERT_KW => {
                top.count += 1;
                // In an object, `local` and `assert` at the start of a member are members,
                // ended by the next `,` like any other.
                let member = top.opened == Opened::Brace && at_member_start;
                if !member {
                    let below = top.below + top.value() + 1;
                    frames.push(Frame::new(Opened::Statement, below));
                }
            }
            SyntaxKind::SEMI if top.opened == Opened::Statement => {
                close(&mut frames);
            }
            SyntaxKind::COMMA => {
                top.best = top.value();
                top.count = 0;
                top.inner = 0;
            }
            kind if counts(kind) => top.count += 1,
            _ => {}
        }
        if let Some(top) = frames.last() {
            let depth = top.below + top.value() + 1;
            if depth > limit {
                return Err(TooDeep { depth, offset });
            }
            deepest = deepest.max(depth);
        }
    }
    Ok(deepest)
}

/// Closes the top frame into the one below it, and says what it was.
fn close(frames: &mut Vec<Frame>) -> Opened {
    let Some(closed) = frames.pop() else {
        return Opened::Root;
    };
    if let Some(parent) = frames.last_mut() {
        parent.inner = parent.inner.max(closed.value() + 1);
    }
    closed.opened
}

/// Whether a token is white space or a comment: what neither parser builds a tree level of.
pub(crate) fn is_trivia(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::WHITESPACE
            | SyntaxKind::SINGLE_LINE_SLASH_COMMENT
            | SyntaxKind::SINGLE_LINE_HASH_COMMENT
            | SyntaxKind::MULTI_LINE_COMMENT
    )
}

/// Tokens through which the parsers recurse or the tree grows a level.
fn counts(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::OR
            | SyntaxKind::NULL_COAELSE
            | SyntaxKind::AND
            | SyntaxKind::BIT_OR
            | SyntaxKind::BIT_XOR
            | SyntaxKind::BIT_AND
            | SyntaxKind::EQ
            | SyntaxKind::NE
            | SyntaxKind::LT
            | SyntaxKind::GT
            | SyntaxKind::LE
            | SyntaxKind::GE
            | SyntaxKind::LHS
            | SyntaxKind::RHS
            | SyntaxKind::PLUS
            | SyntaxKind::MINUS
            | SyntaxKind::MUL
            | SyntaxKind::DIV
            | SyntaxKind::MODULO
            | SyntaxKind::NOT
            | SyntaxKind::BIT_NOT
            | SyntaxKind::DOT
            | SyntaxKind::IF_KW
            | SyntaxKind::FUNCTION_KW
            | SyntaxKind::ERROR_KW
            | SyntaxKind::IMPORT_KW
            | SyntaxKind::IMPORTSTR_KW
            | SyntaxKind::IMPORTBIN_KW
            | SyntaxKind::FOR_KW
            | SyntaxKind::IN_KW
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        check(text, usize::MAX).unwrap()
    }

    #[test]
    fn siblings_do_not_add_up_and_chains_do() {
        assert_eq!(depth("1"), 1);
        // An array of a thousand sums is as deep as one sum.
        let wide = format!("[{}]", vec!["a + b"; 1_000].join(", "));
        assert!(depth(&wide) < 10, "{}", depth(&wide));
        let long = vec!["a"; 1_000].join(" + ");
        assert!(depth(&long) >= 1_000);
        let unary = format!("{}1", "-".repeat(1_000));
        assert!(depth(&unary) >= 1_000);
    }

    #[test]
    fn statements_nest_their_bodies_and_their_bindings_are_siblings() {
        let locals: String = (0..300).map(|i| format!("local l{i} = {i};\n")).collect();
        assert!(depth(&format!("{locals}1")) >= 300);
        let binds: Vec<String> = (0..300).map(|i| format!("l{i} = {i} + {i}")).collect();
        let one = format!("local {};\n1", binds.join(", "));
        assert!(depth(&one) < 10, "{}", depth(&one));
        // An object's `local` members are ended by commas, not by `;`.
        let members: Vec<String> = (0..300).map(|i| format!("local l{i} = {i}")).collect();
        let object = format!("{{ {}, a: 1 }}", members.join(", "));
        assert!(depth(&object) < 10, "{}", depth(&object));
        let asserts: String = (0..300).map(|_| "assert true : 'no';\n").collect();
        assert!(depth(&format!("{asserts}1")) >= 300);
    }

    #[test]
    fn a_deep_first_operand_of_a_long_chain_is_counted_under_the_whole_chain() {
        let text = format!(
            "{}1{} {}",
            "(".repeat(100),
            ")".repeat(100),
            "+ 1".repeat(100)
        );
        assert!(depth(&text) >= 200, "{}", depth(&text));
    }

    #[test]
    fn strings_and_comments_are_not_structure() {
        assert_eq!(depth("'[[[[' // [[[[ - - -\n"), 1);
    }

    #[test]
    fn the_offset_is_where_the_limit_was_passed() {
        let text = format!("{{\n a: {}1\n}}", "-".repeat(50));
        let error = check(&text, 20).unwrap_err();
        assert!(error.depth > 20);
        assert_eq!(&text[error.offset..error.offset + 1], "-");
    }
}
