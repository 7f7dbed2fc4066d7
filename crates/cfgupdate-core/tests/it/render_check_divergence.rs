//! `check` refuses what go-jsonnet (what Argo CD runs) refuses although jrsonnet renders it,
//! and warns, per target, where the render may differ from go-jsonnet's.

use crate::render_support;

use std::collections::BTreeMap;
use std::process::Command;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::{Problem, RenderLimits, RevisionFiles, check_repository};

const PIPELINE: &str = "[[wave]]\nname = \"w\"\nimages = \"images.json\"\ntargets = [\"a\", \"b\"]\n\n[target.a]\nentrypoint = \"a.jsonnet\"\n\n[target.b]\nentrypoint = \"b.jsonnet\"\n";

fn cm(body: &str) -> String {
    format!("{{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: 'x' }}, data: {body} }}\n")
}

fn go_refuses(program: &str) -> bool {
    let script = "import sys, _gojsonnet\ntry:\n    _gojsonnet.evaluate_snippet('x', sys.argv[1]); print('ok')\nexcept RuntimeError:\n    print('refused')\n";
    let output = Command::new(render_support::gojsonnet_python())
        .args(["-c", script, program])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "refused"
}

#[test]
fn check_refuses_what_go_jsonnet_refuses_and_warns_where_the_render_may_differ() {
    let repeat = "{\n  v: 'ab' * 2,\n}\n";
    let comprehension = "{ v: { x: 42 for _ in [1] } }\n";
    // The premise: go-jsonnet refuses both, jrsonnet renders both.
    assert!(go_refuses(repeat) && go_refuses(comprehension));
    let files = vec![
        ("cfgupdate.toml".to_owned(), PIPELINE.to_owned()),
        ("images.json".to_owned(), "{}\n".to_owned()),
        ("lib/repeat.libsonnet".to_owned(), repeat.to_owned()),
        ("lib/comp.libsonnet".to_owned(), comprehension.to_owned()),
        (
            "a.jsonnet".to_owned(),
            cm(
                "{ r: (import 'lib/repeat.libsonnet').v, c: std.toString((import 'lib/comp.libsonnet').v) }",
            ),
        ),
        (
            "b.jsonnet".to_owned(),
            cm(
                "{\n  ratio: 'r=' + 2 / 3,\n  root: std.toString(std.pow(2, 0.5)),\n  fine: std.toString(2 / 3) + 'x',\n}",
            ),
        ),
    ];
    let repo = render_support::memory_repo(&files);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let report = check_repository(&source, &RenderLimits::default()).unwrap();

    let refused: Vec<String> = report
        .problems
        .iter()
        .filter(|problem| matches!(problem, Problem::GoJsonnetRefuses { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(refused.len(), 2, "{:?}", report.problems);
    assert!(
        refused[0].starts_with("target `a`: lib/comp.libsonnet:1: an object comprehension"),
        "{refused:?}"
    );
    assert!(
        refused[1].starts_with("target `a`: lib/repeat.libsonnet:2: a string multiplied"),
        "{refused:?}"
    );

    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    // `std.pow` computes go-jsonnet's value bit for bit (render/gomath.rs): not warned.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .starts_with("target `b`: b.jsonnet:2: `+` joining a string and a non-integral number"),
        "{warnings:?}"
    );
}
