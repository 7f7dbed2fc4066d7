//! Every value cfgupdate writes as YAML reads back as the same value under YAML 1.1 (PyYAML),
//! YAML 1.2 (ruamel.yaml) and, where `kubectl` is installed, Kubernetes' own reader
//! (`kubectl label --local`, which reads through `sigs.k8s.io/yaml`): generated strings and
//! numbers, and every trap the issue names, through the emitter and through a whole render.

use crate::render_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use cfgupdate_core::RepoPath;
use cfgupdate_core::render::yaml_document;
use cfgupdate_core::render::{EvaluationInput, evaluate};
use cfgupdate_core::render::{RenderLimits, SourceError, SourceFiles};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Reads each YAML document back with PyYAML and ruamel.yaml and compares it with the value it
/// was made from (strings must stay strings; numbers must be numbers of the same value), and
/// with kubectl when `with_kubectl`. Returns one line per disagreement.
fn disagreements(cases: &[(String, Value)], with_kubectl: bool) -> Vec<String> {
    let script = r#"
import json, subprocess, sys, tempfile, yaml
from ruamel.yaml import YAML
cases, with_kubectl = json.load(sys.stdin), sys.argv[1] == "1"
def same(a, b):
    if b is None or isinstance(b, bool):
        return a is b
    if isinstance(b, str):
        return isinstance(a, str) and a == b
    if isinstance(b, (int, float)):
        return isinstance(a, (int, float)) and not isinstance(a, bool) and a == b
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return isinstance(a, dict) and set(a) == set(b) and all(same(a[k], b[k]) for k in b)
def ruamel(text):
    # A fresh reader each time: one that raised may keep its broken state.
    return YAML(typ="safe", pure=True).load(text)
bad = []
for text, value in cases:
    for name, read in (("PyYAML", yaml.safe_load), ("ruamel.yaml", ruamel)):
        try:
            back = read(text)
        except Exception as error:
            bad.append("%s refuses %r: %s" % (name, text, error)); continue
        if not same(back, value):
            bad.append("%s reads %r as %r, not %r" % (name, text, back, value))
if with_kubectl:
    docs = []
    for i, (text, value) in enumerate(cases):
        docs.append("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\nx:\n" % i
                    + "".join("  " + line + "\n" for line in text.splitlines()))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write("---\n".join(docs)); f.flush()
        out = subprocess.run(["kubectl", "label", "--local", "-f", f.name, "cfgupdate=x", "-o", "json"],
                             capture_output=True, text=True)
    if out.returncode != 0:
        bad.append("kubectl refuses the file: %s" % out.stderr[:500])
    else:
        # kubectl prints a float64 with the fewest digits; past 2**53 they are the double's.
        decoder = json.JSONDecoder(parse_int=lambda s: int(s) if abs(int(s)) < 2**53 else float(s))
        rest, items = out.stdout.strip(), []
        while rest:
            item, end = decoder.raw_decode(rest)
            items.extend(item["items"] if item.get("kind") == "List" else [item])
            rest = rest[end:].strip()
        if len(items) != len(cases):
            bad.append("kubectl returned %d objects for %d" % (len(items), len(cases)))
        for (text, value), item in zip(cases, items):
            if not same(item.get("x"), value):
                bad.append("kubectl reads %r as %r, not %r" % (text, item.get("x"), value))
print(json.dumps(bad))
"#;
    let payload: Vec<Value> = cases
        .iter()
        .map(|(text, value)| json!([text, value]))
        .collect();
    let mut child = Command::new(render_support::gojsonnet_python())
        .args(["-c", script, if with_kubectl { "1" } else { "0" }])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(payload).to_string().as_bytes())
        .unwrap();
    let stdout = render_support::python_finished(child.wait_with_output().unwrap());
    serde_json::from_slice(&stdout).unwrap()
}

fn kubectl_installed() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Each string as a value and as a key, in a document of its own.
fn string_cases(strings: &[String]) -> Vec<(String, Value)> {
    strings
        .iter()
        .map(|text| {
            let value = json!({ "v": text, "k": { text.clone(): text }, "s": [text] });
            (yaml_document(&value), value)
        })
        .collect()
}

fn number_cases(numbers: &[f64]) -> Vec<(String, Value)> {
    numbers
        .iter()
        .map(|&number| {
            let value = json!({ "n": number, "s": [number] });
            (yaml_document(&value), value)
        })
        .collect()
}

const TRAPS: &[&str] = &[
    "trailing space ",
    " leading space",
    " ",
    "a\u{2028}b",
    "a\u{2029}b",
    "\u{85}",
    "\u{feff}bom",
    "bell\u{7}",
    "del\u{7f}",
    "c1\u{9b}",
    "nul\u{0}",
    "tab\tin",
    "cr\rin",
    "line\nbreak\n",
    "nbsp\u{a0}",
    "emoji \u{1f600}",
    "\u{fffe}",
    "2022-11-01T00:00:00Z",
    "2001-12-14",
    "2001-12-14 21:59:43.10 -5",
    "12:30",
    "12:30:45",
    "190:20:30",
    "=",
    "<<",
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "on",
    "On",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    "true",
    "True",
    "FALSE",
    "~",
    "null",
    "Null",
    "NULL",
    "",
    ".inf",
    "-.inf",
    "+.INF",
    ".nan",
    ".NaN",
    "0777",
    "0o777",
    "0x1F",
    "0x1p-2",
    "0b1010",
    "1_000",
    "1,000",
    "+1",
    "-1",
    ".5",
    "1.",
    "1e3",
    "1E3",
    "1.0e+3",
    "6.8523015e+5",
    "685_230.15",
    "-",
    "--",
    "---",
    "...",
    "- item",
    "? key",
    ": x",
    ":x",
    ",x",
    "[x]",
    "{x}",
    "#x",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "'single'",
    "\"double\"",
    "%directive",
    "@at",
    "`tick",
    "a: b",
    "a #b",
    "a:",
    "key: value # comment",
    "Infinity",
    "-infinity",
    "NaN",
    "._",
    ".",
    "_",
    "500m",
    "--yes",
    "registry.example.com/team/api:1.4.0@sha256:0b6c5f4a3d2e1f00112233445566778899aabbccddeeff00112233445566778a",
];

#[test]
fn the_issues_traps_read_back_as_written_in_every_reader() {
    let strings: Vec<String> = TRAPS.iter().map(|s| (*s).to_owned()).collect();
    let mut cases = string_cases(&strings);
    let thirds: Vec<f64> = (0..1000).map(|n| f64::from(n) / 3.0).collect();
    cases.extend(number_cases(&thirds));
    cases.extend(number_cases(&[
        227264.0 + 1.0 / 3.0,
        1e-7,
        1e-300,
        5e-324,
        1e20,
        1e23,
        1.7976931348623157e308,
        -0.0,
        0.1,
        123456789012345678.0,
    ]));
    // Jsonnet's integers are doubles, so these are the largest integers a render can hold.
    let integers = json!({"big": 1_u64 << 63, "small": i64::MIN, "odd": (1_u64 << 53) + 2});
    cases.push((yaml_document(&integers), integers));
    let bad = disagreements(&cases, kubectl_installed());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Jsonnet's numbers reach the YAML with their exact value: the evaluation's JSON is read
/// with `serde_json`'s `float_roundtrip`; without it, hundreds of these 1,001 values were one unit
/// in the last place off.
#[test]
fn every_third_survives_evaluation_exactly() {
    struct One(Vec<u8>);
    impl SourceFiles for One {
        fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
            Ok((path.as_str() == "main.jsonnet").then(|| self.0.clone()))
        }
        fn list(&self, _dir: &str) -> Result<Vec<RepoPath>, SourceError> {
            Ok(Vec::new())
        }
    }
    let files = One(b"[n / 3 for n in std.range(0, 999)] + [227264 + 1/3]".to_vec());
    let entrypoint = RepoPath::parse("main.jsonnet").unwrap();
    let none = BTreeMap::new();
    let input = EvaluationInput {
        entrypoint: &entrypoint,
        jpath: &[],
        ext_vars: &none,
        tlas: &none,
    };
    let value = evaluate(&files, input, &RenderLimits::default())
        .unwrap()
        .value;
    let numbers: Vec<f64> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap())
        .collect();
    let expected: Vec<f64> = (0..1000)
        .map(|n| f64::from(n) / 3.0)
        .chain([227264.0 + 1.0 / 3.0])
        .collect();
    let wrong = numbers
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(wrong, 0, "{wrong} of 1,001 values changed");
    assert!(yaml_document(&json!({"x": numbers[1000]})).contains("x: 227264.33333333334\n"));
}

/// Characters chosen to hit every rule: indicators, spaces, separators, digits, letters that
/// spell booleans, line breaks and invisible characters.
fn tricky_string() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => prop::sample::select(TRAPS).prop_map(str::to_owned),
        3 => "[a-zA-Z0-9 _.:/@+=%~()$^-]{0,12}",
        2 => "[-?:,\\[\\]{}#&*!|>'\"%@` .0-9eExobYNyn:_+]{0,8}",
        1 => prop::collection::vec(
            prop::sample::select(vec![
                '\u{0}', '\u{7}', '\t', '\n', '\r', '\u{1b}', ' ', '\u{7f}', '\u{85}', '\u{9f}',
                '\u{a0}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffe}', '\u{ffff}', 'é',
                '\u{1f600}', '\\', '"', '\'',
            ]),
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>()),
        1 => any::<String>(),
    ];
    prop::collection::vec(pieces, 1..4).prop_map(|parts| parts.concat())
}

fn finite_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1_000_000_i64..1_000_000, 1_i64..1000).prop_map(|(n, d)| n as f64 / d as f64),
        (-330_i32..310).prop_map(|e| 10f64.powi(e)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn generated_strings_and_numbers_read_back_as_written(
        strings in prop::collection::vec(tricky_string(), 300),
        numbers in prop::collection::vec(finite_float(), 300),
    ) {
        let mut cases = string_cases(&strings);
        cases.extend(number_cases(&numbers));
        let bad = disagreements(&cases, false);
        prop_assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
