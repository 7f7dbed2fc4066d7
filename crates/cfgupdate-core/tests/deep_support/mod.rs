//! Jsonnet as deep as a grammar's recursive productions allow, one construct at a time: the
//! inputs of the depth tests (`deep_jsonnet.rs`, `deep_jsonnet_props.rs`).
#![allow(dead_code)]

/// Every construct through which the parsers or the evaluator recurse.
pub const CONSTRUCTS: &[&str] = &[
    "unary_minus",
    "unary_not",
    "bit_not",
    "else_if",
    "error",
    "assert",
    "local",
    "plus_chain",
    "mixed_operators",
    "apply",
    "apply_chain",
    "function",
    "brackets",
    "parens",
    "objects",
    "object_extend",
    "array_comprehension",
    "object_comprehension",
    "index_chain",
];

/// A Jsonnet expression built from `n` repetitions of `construct`; evaluates to a number, a
/// boolean or a small value (or, for `error`, to an error).
pub fn deep(construct: &str, n: usize) -> String {
    match construct {
        "unary_minus" => format!("{}1", "-".repeat(n)),
        "unary_not" => format!("{}true", "!".repeat(n)),
        "bit_not" => format!("{}1", "~".repeat(n)),
        "else_if" => format!("{}1", "if false then 0 else ".repeat(n)),
        "error" => format!("{}'deep'", "error ".repeat(n)),
        "assert" => format!("{}1", "assert true; ".repeat(n)),
        "local" => format!("{}1", "local a = 1; ".repeat(n)),
        "plus_chain" => format!("1{}", " + 1".repeat(n)),
        "mixed_operators" => format!(
            "1{}",
            " + 2 * 3 - 4 % 5 < 6 || 7 && 8 | 9 ^ 10 & 11 << 12".repeat(n / 12 + 1)
        ),
        "apply" => format!("(local f(x) = x; {}1{})", "f(".repeat(n), ")".repeat(n)),
        "apply_chain" => format!("(local f = function(x) f; f{})(1)", "(1)".repeat(n)),
        "function" => format!("({}1)", "function(x) ".repeat(n)),
        "brackets" => format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        "parens" => format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        "objects" => format!("{}1{}", "{ a: ".repeat(n), " }".repeat(n)),
        "object_extend" => format!("{{}}{}", "{ a: 1 }".repeat(n)),
        "array_comprehension" => format!("{}1{}", "[".repeat(n), " for x in [1]]".repeat(n)),
        "object_comprehension" => {
            format!("{}1{}", "{ [k]: ".repeat(n), " for k in ['a'] }".repeat(n))
        }
        "index_chain" => format!("(local o = {{ a: o }}; o{}.a)", ".a".repeat(n)),
        other => panic!("no construct {other}"),
    }
}
