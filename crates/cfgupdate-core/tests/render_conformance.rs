//! cfgupdate's evaluation against go-jsonnet (PyPI `gojsonnet`, what Argo CD and Tanka run),
//! one small program per root cause found by running the official Jsonnet suites (the method
//! and the figures are in docs/rendering.md): each must give go-jsonnet's value exactly, or
//! fail where go-jsonnet fails.

mod render_support;

use std::collections::BTreeMap;
use std::process::Command;

use cfgupdate_core::path::RepoPath;
use cfgupdate_core::render::evaluate::{EvaluationInput, evaluate};
use cfgupdate_core::render::{RenderLimits, SourceError, SourceFiles};
use serde_json::Value;

struct One(Vec<u8>);

impl SourceFiles for One {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        Ok((path.as_str() == "main.jsonnet").then(|| self.0.clone()))
    }
    fn list(&self, _dir: &str) -> Result<Vec<RepoPath>, SourceError> {
        Ok(Vec::new())
    }
}

fn ours(program: &str) -> Result<Value, String> {
    let entrypoint = RepoPath::parse("main.jsonnet").unwrap();
    let none = BTreeMap::new();
    let input = EvaluationInput {
        entrypoint: &entrypoint,
        jpath: &[],
        ext_vars: &none,
        tlas: &none,
    };
    evaluate(
        &One(program.as_bytes().to_vec()),
        input,
        &RenderLimits::default(),
    )
    .map(|evaluation| evaluation.value)
    .map_err(|error| error.to_string())
}

/// go-jsonnet's value of each program (`Err` with its message when it refuses it).
fn go(programs: &[&str]) -> Vec<Result<Value, String>> {
    let script = r#"
import json, sys, _gojsonnet
out = []
for program in json.loads(sys.argv[1]):
    try:
        out.append({"ok": _gojsonnet.evaluate_snippet("main.jsonnet", program)})
    except RuntimeError as error:
        out.append({"err": str(error)})
print(json.dumps(out))
"#;
    let output = Command::new(render_support::gojsonnet_python())
        .args(["-c", script, &serde_json::to_string(programs).unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    answers
        .into_iter()
        .map(|answer| match answer.get("ok").and_then(Value::as_str) {
            Some(text) => Ok(serde_json::from_str(text).unwrap()),
            None => Err(answer["err"].as_str().unwrap_or_default().to_owned()),
        })
        .collect()
}

/// Every program gives go-jsonnet's value, or fails where it fails.
fn agree(programs: &[&str]) {
    let mut wrong = Vec::new();
    for (program, theirs) in programs.iter().zip(go(programs)) {
        let mine = ours(program);
        match (&mine, &theirs) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => {}
            _ => wrong.push(format!(
                "{program}\n  cfgupdate: {mine:?}\n  go-jsonnet: {theirs:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn numbers_turned_into_text_by_the_standard_library_are_go_jsonnets_text() {
    agree(&[
        "std.toString(0.2)",
        "std.toString(2 / 3)",
        "std.toString(1e-7)",
        "std.toString(1e23)",
        "std.toString(-0.5)",
        "std.toString([0.1, { a: 1 / 3, b: [] }, {}, 'x', null, true])",
        "std.format('%s|%5s|%d|%.3f|%-8s|%*s', [0.1, 0.2, 3, 1 / 3, 0.7, 6, 0.3])",
        "std.format('%s', 0.2)",
        "std.format('%(a)s', { a: 'x' })",
        "std.format('%(a)s %(b)d %(c)s', { a: 0.1, b: 2, c: [0.1, { d: 0.2 }] })",
        "std.format('%s %s', [[0.1], { a: 1 / 3 }])",
        "{ hash: std.md5(std.toString({ ratio: 0.1, replicas: 3 })) }",
    ]);
}

#[test]
fn manifest_functions_write_numbers_as_go_jsonnet_does() {
    agree(&[
        "std.manifestIni({ main: { a: 0.2, b: [0.1, 'x'] }, sections: { s: { c: 1 / 3 } } })",
        "std.manifestPython({ a: 0.1, b: [1.42, 'q\"'], c: null })",
        "std.manifestPythonVars({ a: 0.1, b: 'x' })",
        "std.manifestTomlEx({ a: 1.42, b: { c: [0.1, 2], d: 'x' }, e: [{ f: 0.3 }] }, '  ')",
        "std.manifestXmlJsonml(['a', { b: 0.1, c: 'x' }, ['d', 'text']])",
        // Blank lines where a table's or the document's body is empty.
        "[std.manifestTomlEx(v, ' ') for v in [{ a: { b: 'c' } }, { x: 1, a: { b: 'c' } }, { x: 1 }, {}, { t: [{ b: 1 }], u: [] }, { a: { b: { c: 1 } } }, { a: {} }, { a: { b: { c: 1 }, d: { e: 1 } } }, { a: { x: 1, b: { c: 1 } } }, { a: { b: {} } }, { a: { b: { c: { d: 1 } } } }, { a: [{ b: { c: 1 } }] }, { a: { l: [[1, 2], ['x']], m: { n: [[3]] } } }]]",
        "std.manifestJsonEx({ a: 0.1 }, '  ')",
        "std.manifestYamlDoc({ a: 0.1, b: [1.42] })",
        // Multi-line strings: a `|` block with a final line break, one quoted line without.
        "[std.manifestYamlDoc(v) for v in [{ a: 'x\ny' }, { a: 'x\ny\n' }, { a: 'x\n  ' }, ['x\ny', { b: 'p\n\"q\"\\\\\tr' }], 'top\nlevel', { a: '\\u0001cfgupdate-text:\n' }]]",
        "std.manifestYamlDoc({ a: { b: ['x\ny', 'z'] } }, indent_array_in_object=true, quote_keys=false)",
        "std.manifestYamlStream([{ a: 'x\ny' }, 'p\nq', 1], c_document_end=false)",
    ]);
}

#[test]
fn mantissa_and_exponent_are_exact() {
    agree(&[
        "[std.mantissa(x) for x in [42, 0.84 * 8, -42, 1e-310, 0, 1, 0.1, 1e300]]",
        "[std.exponent(x) for x in [42, 0.84 * 8, -42, 1e-310, 0, 1, 0.1, 1e300]]",
    ]);
}

#[test]
fn arguments_go_jsonnet_accepts_are_accepted() {
    agree(&[
        "std.map(std.escapeStringJson, [null, 1.42, [1], { a: 1 }, true, 'x'])",
        "[std.escapeStringBash(1), std.escapeStringPython(0.5), std.escapeStringDollars(2), std.escapeStringXML(3)]",
        "std.setInter('abc', 'bcd')",
        "std.setMember('a', 'abc')",
        "std.setInter([1, 2], [2, 3], function(x) x)",
        "std.trace('message', 42)",
        // Callers may name the parameters, with go-jsonnet's names.
        "[std.escapeStringJson(str_='x'), std.escapeStringBash(str_='x'), std.escapeStringDollars(str_='$'), std.escapeStringPython(str='x'), std.escapeStringXML(str_='<')]",
        "[std.toString(a=1), std.format(str='%s', vals=[0.5]), std.mantissa(x=5), std.exponent(x=5)]",
        "[std.manifestIni(ini={ main: { a: 1 }, sections: {} }), std.manifestPython(v=1), std.manifestPythonVars(conf={ a: 1 })]",
        "[std.manifestTomlEx(value={ a: 1 }, indent=' '), std.manifestXmlJsonml(value=['a'])]",
        "[std.setInter(a=[1], b=[1], keyF=function(x) x), std.setMember(x=1, arr=[1])]",
        "[std.base64(input='x'), std.splitLimitR(str='a,b', c=',', maxsplits=1), std.trace(str='t', rest=1)]",
    ]);
}

#[test]
fn calls_go_jsonnet_refuses_are_refused() {
    let programs = [
        "std.trace('')",
        "std.base64('\\u0100')",
        "std.splitLimitR('a,b', '', 1)",
    ];
    for (program, theirs) in programs.iter().zip(go(&programs)) {
        assert!(theirs.is_err(), "go-jsonnet now accepts {program}");
        assert!(ours(program).is_err(), "{program} renders");
    }
    agree(&["std.base64('\\u00ff')", "std.splitLimitR('a,b,c', ',', 1)"]);
}
