//! Constructs whose result jrsonnet's evaluator computes differently from go-jsonnet (what
//! Argo CD and Tanka run), found in the text of the files a target reads, for `check`.
//!
//! cfgupdate's standard library ([`super::stdlib_overrides`]) makes the library agree; what
//! is left is jrsonnet's evaluator itself, which cannot be replaced from outside. Two kinds
//! are reported:
//! - **refused**: programs go-jsonnet refuses and jrsonnet renders (`'x' * 3`, an object
//!   comprehension with a fixed field name). Argo CD could not sync them, so `check` refuses
//!   them too;
//! - **may differ**: constructs whose output can differ from go-jsonnet's: `+` or `%`
//!   turning a non-integral number into text (`'ratio: ' + a / b`), `%` with a float
//!   conversion (`'%.2f' % [x]`), and `tailstrict` (go-jsonnet evaluates the
//!   call's default arguments too; its stack limit is matched, see [`super::tailstrict`]).
//!   `check` warns, naming the target, file and line.
//!
//! The scan reads the syntax only: a number that reaches `+` through a variable is not seen,
//! and a warned construct may well give the same text for the values it meets.

use jrsonnet_rowan_parser::nodes::{FieldName, MemberComp, ObjBodyComp};
use jrsonnet_rowan_parser::{AstNode, SyntaxKind, SyntaxNode};

use crate::path::RepoPath;

/// The functions of `std` whose result need not be an integer (they compute go-jsonnet's
/// values bit for bit, `render/gomath.rs`, but `+` then writes them with jrsonnet's digits).
const FLOAT_FUNCTIONS: [&str; 14] = [
    "pow", "exp", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
    "hypot", "sqrt",
];

/// One construct found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Divergence {
    /// The file.
    pub file: RepoPath,
    /// The 1-based line.
    pub line: usize,
    /// Whether go-jsonnet refuses the program (rather than computing other output).
    pub refused: bool,
    /// What it is and why it matters, in one phrase.
    pub construct: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.construct)
    }
}

/// The constructs of `text` (the Jsonnet file `file`) that go-jsonnet evaluates differently,
/// in file order. A file the tree parser cannot read whole gives nothing: the evaluator's
/// parser, which rendered it, is the judge of validity.
pub(crate) fn scan(file: &RepoPath, text: &str) -> Vec<Divergence> {
    // The tree parser recurses once per nesting level: the evaluation before this one refused
    // files nested too deep for it, and a grown stack keeps the rest from overflowing.
    let parsed = stacker::maybe_grow(1 << 20, 1 << 28, || {
        std::panic::catch_unwind(|| jrsonnet_rowan_parser::parse(text)).ok()
    });
    let Some((tree, errors)) = parsed else {
        return Vec::new();
    };
    if !errors.is_empty() {
        return Vec::new();
    }
    let line = |node: &SyntaxNode| {
        let offset = usize::from(node.text_range().start()).min(text.len());
        text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    };
    let mut found = Vec::new();
    let mut add = |node: &SyntaxNode, refused: bool, construct: String| {
        found.push(Divergence {
            file: file.clone(),
            line: line(node),
            refused,
            construct,
        });
    };
    for node in tree.syntax().descendants() {
        match node.kind() {
            SyntaxKind::OBJ_BODY_COMP if fixed_comprehension_name(&node) => add(
                &node,
                true,
                "an object comprehension with a fixed field name (`{ x: ... for ... }`), which go-jsonnet refuses: write the name as `[expr]`".into(),
            ),
            SyntaxKind::EXPR_BINARY => binary(&node, &mut add),
            _ => {}
        }
    }
    for token in tree
        .syntax()
        .descendants_with_tokens()
        .filter_map(|element| element.into_token())
    {
        if token.kind() == SyntaxKind::TAILSTRICT_KW
            && let Some(parent) = token.parent()
        {
            add(
                &parent,
                false,
                "`tailstrict`: go-jsonnet also evaluates the call's default arguments, which jrsonnet leaves lazy (an `error` default, or one that fails, fails there and not here)".into(),
            );
        }
    }
    found.sort();
    found.dedup();
    found
}

/// `std.NAME` as the start of `node` (an expression whose base is `std` followed by `.NAME`).
fn std_member(node: &SyntaxNode) -> Option<String> {
    if node.kind() != SyntaxKind::EXPR {
        return None;
    }
    let text = node.text().to_string();
    let rest = text.strip_prefix("std")?.trim_start().strip_prefix('.')?;
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn fixed_comprehension_name(node: &SyntaxNode) -> bool {
    let Some(body) = ObjBodyComp::cast(node.clone()) else {
        return false;
    };
    body.member_comps().any(|member| {
        let name = match member {
            MemberComp::MemberFieldNormal(field) => field.field_name(),
            MemberComp::MemberFieldMethod(method) => method.field_name(),
            MemberComp::MemberBindStmt(_) => None,
        };
        matches!(name, Some(FieldName::FieldNameFixed(_)))
    })
}

/// The first operator token of a binary expression that `wanted` accepts.
fn operator(node: &SyntaxNode, wanted: impl Fn(&SyntaxKind) -> bool) -> Option<SyntaxKind> {
    node.children_with_tokens()
        .filter_map(|element| element.into_token())
        .map(|token| token.kind())
        .find(|kind| wanted(kind))
}

fn binary(node: &SyntaxNode, add: &mut impl FnMut(&SyntaxNode, bool, String)) {
    let Some(operator) = operator(node, |kind| {
        matches!(
            kind,
            SyntaxKind::MUL | SyntaxKind::PLUS | SyntaxKind::MODULO
        )
    }) else {
        return;
    };
    let operands: Vec<SyntaxNode> = node.children().collect();
    let [lhs, rhs] = operands.as_slice() else {
        return;
    };
    let (lhs_string, rhs_string) = (is_string(lhs), is_string(rhs));
    match operator {
        SyntaxKind::MUL if lhs_string || rhs_string => add(
            node,
            true,
            "a string multiplied by a number, which jrsonnet repeats and go-jsonnet refuses".into(),
        ),
        SyntaxKind::PLUS
            if (lhs_string && fractional(rhs)) || (rhs_string && fractional(lhs)) =>
        {
            add(
                node,
                false,
                "`+` joining a string and a non-integral number: go-jsonnet writes 17 significant digits (`0.20000000000000001`), jrsonnet's operator the fewest (`0.2`); use `std.toString` or `std.format`".into(),
            );
        }
        SyntaxKind::MODULO if lhs_string && fractional_anywhere(rhs) => add(
            node,
            false,
            "`%` formatting a non-integral number: with `%s` go-jsonnet writes 17 significant digits, jrsonnet's operator the fewest; use `std.format`".into(),
        ),
        SyntaxKind::MODULO if lhs_string && float_conversion(lhs) => add(
            node,
            false,
            "`%` with a `%e`, `%f` or `%g` conversion: jrsonnet's operator rounds and writes digits otherwise than go-jsonnet; use `std.format`, which agrees".into(),
        ),
        _ => {}
    }
}

/// The node with any parentheses (and the `Expr` wrappers around them) taken off.
fn unwrap(node: &SyntaxNode) -> SyntaxNode {
    let mut node = node.clone();
    loop {
        let children: Vec<SyntaxNode> = node.children().collect();
        match (node.kind(), children.as_slice()) {
            (SyntaxKind::EXPR | SyntaxKind::EXPR_PARENED, [only]) => node = only.clone(),
            _ => return node,
        }
    }
}

/// Whether the string literal holds a `%e`, `%f` or `%g` conversion (either case), with any
/// mapping key, flags, width and precision.
fn float_conversion(node: &SyntaxNode) -> bool {
    let text = unwrap(node).text().to_string();
    let mut rest = text.as_str();
    while let Some(at) = rest.find('%') {
        let after = &rest[at + 1..];
        let after = match after.strip_prefix('(') {
            Some(keyed) => keyed.split_once(')').map_or("", |(_, tail)| tail),
            None => after,
        };
        let spec =
            after.trim_start_matches(|c: char| "#0- +.*hlL".contains(c) || c.is_ascii_digit());
        if spec.starts_with(['e', 'E', 'f', 'F', 'g', 'G']) {
            return true;
        }
        // `%%` is a literal percent sign: skip both.
        rest = spec.strip_prefix('%').unwrap_or(spec);
    }
    false
}

fn is_string(node: &SyntaxNode) -> bool {
    unwrap(node).kind() == SyntaxKind::EXPR_STRING
}

/// Whether the expression is, by its shape, a number that need not be an integer: a literal
/// with a fraction or an exponent, a division, a floating-point function, or arithmetic on
/// one of those.
fn fractional(node: &SyntaxNode) -> bool {
    let node = unwrap(node);
    match node.kind() {
        SyntaxKind::EXPR_NUMBER => {
            let text = node.text().to_string();
            text.contains(['.', 'e', 'E'])
        }
        SyntaxKind::EXPR_BINARY => {
            let operator = operator(&node, |kind| {
                matches!(
                    kind,
                    SyntaxKind::DIV | SyntaxKind::MUL | SyntaxKind::PLUS | SyntaxKind::MINUS
                )
            });
            match operator {
                Some(SyntaxKind::DIV) => true,
                Some(_) => node.children().any(|child| fractional(&child)),
                None => false,
            }
        }
        _ => std_member(&node).is_some_and(|name| FLOAT_FUNCTIONS.contains(&name.as_str())),
    }
}

/// [`fractional`] for the operand itself or any element or field of an array or object
/// literal (the arguments of `%`).
fn fractional_anywhere(node: &SyntaxNode) -> bool {
    let node = unwrap(node);
    match node.kind() {
        SyntaxKind::EXPR_ARRAY => node.children().any(|child| fractional(&child)),
        SyntaxKind::EXPR_OBJECT => node.descendants().any(|child| {
            child.kind() == SyntaxKind::EXPR
                && child
                    .parent()
                    .is_some_and(|parent| parent.kind() == SyntaxKind::MEMBER_FIELD_NORMAL)
                && fractional(&child)
        }),
        _ => fractional(&node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(usize, bool, String)> {
        scan(&RepoPath::parse("a.jsonnet").unwrap(), text)
            .into_iter()
            .map(|d| (d.line, d.refused, d.construct))
            .collect()
    }

    #[test]
    fn what_go_jsonnet_refuses_is_found_as_refused() {
        let hits = found("{\n  a: 'x' * 3,\n  b: { x: 42 for _ in [1] },\n}\n");
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(hits[0].1 && hits[0].0 == 2 && hits[0].2.contains("multiplied"));
        assert!(hits[1].1 && hits[1].0 == 3 && hits[1].2.contains("comprehension"));
    }

    #[test]
    fn numbers_turned_into_text_by_operators_are_found() {
        let hits = found(
            "local a = 1, b = 3;\n{\n  r: 'ratio ' + a / b,\n  s: '%s' % [0.5 * a],\n  t: (std.pow(2, 0.5)) + '',\n}\n",
        );
        let lines: Vec<usize> = hits.iter().map(|h| h.0).collect();
        assert_eq!(lines, [3, 4, 5], "{hits:?}");
        assert!(hits.iter().all(|h| !h.1));
    }

    #[test]
    fn the_percent_operator_with_float_conversions_is_found() {
        let hits = found(
            "{\n  a: '%.2f' % [x],\n  b: '%(v)08.3e' % { v: 1 },\n  c: '%d-%s %%f' % [1, 'x'],\n  d: std.format('%.2f', [1]),\n  e: '100%%' % [],\n}\n",
        );
        let lines: Vec<usize> = hits.iter().map(|h| h.0).collect();
        assert_eq!(lines, [2, 3], "{hits:?}");
    }

    #[test]
    fn floating_point_functions_alone_are_not_warned() {
        // They compute go-jsonnet's values bit for bit (render/gomath.rs).
        let hits = found(
            "{
  a: std.pow(2, 0.5),
  b: std.sin(1) + std.cos(1) + std.tan(1) + std.exp(1) + std.log(2),
  c: [std.asin(0.5), std.acos(0.5), std.atan(2), std.atan2(1, 2), std.hypot(1, 2)],
  d: std.toString(std.pow(2, 0.5)),
}
",
        );
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn ordinary_configuration_gives_nothing() {
        let hits = found(
            "local image = 'x:1';\n{\n  a: 'prefix-' + image,\n  b: '%s-%d' % ['x', 3],\n  c: { [k]: 1 for k in ['a'] },\n  d: 2 * 3,\n  e: std.toString(1 / 3) + 'x',\n  f: 'n=' + 3,\n}\n",
        );
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn tailstrict_is_found_and_yaml_keys_are_not() {
        // manifestYamlDoc's keys agree with go-jsonnet's (stdlib_overrides.rs).
        let hits = found(
            "local f(n) = if n == 0 then 0 else f(n - 1) tailstrict;\n{\n  y: std.manifestYamlDoc({ a: 1 }, quote_keys=false),\n}\n",
        );
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert!(hits[0].2.contains("tailstrict"));
    }
}
