//! Evaluation stays inside the repository and within its limits.

use crate::render_support;

use std::collections::BTreeMap;
use std::time::Duration;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::{
    EvaluationError, RenderError, RenderLimits, RevisionFiles, read_pipeline, render_target,
};
use render_support::memory_repo;

const PIPELINE: &str = "[render]\noutput = \"generated/{target}\"\njpath = [\"lib\"]\n\n[[wave]]\nname = \"w\"\nimages = \"i.json\"\ntargets = [\"t\"]\n\n[target.t]\nentrypoint = \"envs/t/main.jsonnet\"\n";

fn render(main: &str, limits: RenderLimits) -> Result<Vec<String>, RenderError> {
    let files = vec![
        ("cfgupdate.toml".to_owned(), PIPELINE.to_owned()),
        ("envs/t/main.jsonnet".to_owned(), main.to_owned()),
        (
            "envs/lib.libsonnet".to_owned(),
            "{ name: 'from-envs' }".to_owned(),
        ),
        (
            "lib/shared.libsonnet".to_owned(),
            "{ name: 'from-jpath' }".to_owned(),
        ),
    ];
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&source, "here").unwrap();
    let target = pipeline.targets.values().next().unwrap();
    render_target(&source, &pipeline, target, &limits).map(|rendered| {
        rendered
            .objects
            .iter()
            .map(|object| object.name.clone())
            .collect()
    })
}

fn config_map(name_expr: &str) -> String {
    format!("{{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: {name_expr} }} }}")
}

fn refusal(main: &str) -> String {
    match render(main, RenderLimits::default()) {
        Err(RenderError::Evaluation {
            source: EvaluationError::ImportRefused { message },
            ..
        }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn imports_inside_the_repository_resolve_relative_to_the_file_then_the_jpath() {
    let main =
        config_map("(import '../lib.libsonnet').name + '-' + (import 'shared.libsonnet').name");
    assert_eq!(
        render(&main, RenderLimits::default()).unwrap(),
        ["from-envs-from-jpath"]
    );
}

#[test]
fn an_import_climbing_above_the_root_is_refused_naming_the_file_and_line() {
    let message = refusal(&format!(
        "\n{}",
        config_map("(import '../../../etc/passwd').x")
    ));
    assert!(message.starts_with("envs/t/main.jsonnet:2:"), "{message}");
    assert!(
        message.contains("`../../../etc/passwd`") && message.contains("outside the repository"),
        "{message}"
    );
}

#[test]
fn an_absolute_import_and_an_escaping_importstr_are_refused() {
    let message = refusal(&config_map("(import '/etc/hostname')"));
    assert!(message.contains("absolute path"), "{message}");
    let message = refusal(&config_map("importstr '../../../../root/.ssh/id_rsa'"));
    assert!(message.contains("outside the repository"), "{message}");
}

#[test]
fn an_import_into_git_metadata_is_refused() {
    let message = refusal(&config_map("importstr '../../.git/config'"));
    assert!(message.contains(".git"), "{message}");
}

#[test]
fn endless_recursion_stops_at_the_recursion_limit_with_a_located_error() {
    let main = "local f(n) = f(n + 1) + 1;\nf(0)\n";
    let limits = RenderLimits {
        max_stack: 50,
        ..RenderLimits::default()
    };
    match render(main, limits) {
        Err(RenderError::Evaluation {
            source: EvaluationError::Jsonnet { message, .. },
            ..
        }) => {
            assert!(message.contains("stack overflow"), "{message}");
            assert!(message.starts_with("envs/t/main.jsonnet:"), "{message}");
        }
        other => panic!("expected a stack overflow, got {other:?}"),
    }
}

#[test]
fn an_evaluation_past_the_time_limit_is_given_up() {
    let main = "std.foldl(function(sum, n) sum + n, std.makeArray(3000000, function(i) i), 0)";
    let limits = RenderLimits {
        timeout: Duration::from_millis(20),
        ..RenderLimits::default()
    };
    let error = render(main, limits).unwrap_err();
    assert!(
        matches!(
            &error,
            RenderError::Evaluation {
                source: EvaluationError::TimedOut { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("took longer than its time limit of 0.02 s"),
        "{error}"
    );
}

#[test]
fn a_syntax_error_names_its_file_and_line() {
    let error = render("{\n  a: ,\n}\n", RenderLimits::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("target `t`: envs/t/main.jsonnet:2"),
        "{error}"
    );
}

#[test]
fn deeply_nested_jsonnet_is_refused_instead_of_overflowing_the_stack() {
    // The evaluator's parser recurses once per bracket and chained `local`; a config file can
    // nest as deep as it likes, and must never take the process down with it.
    let nested = format!("{}1{}", "[".repeat(60_000), "]".repeat(60_000));
    let locals: String = (0..60_000)
        .map(|i| format!("local l{i} = {i};\n"))
        .collect();
    for main in [
        format!("local deep = {nested};\n{}", config_map("'deep'")),
        format!("{locals}{}", config_map("'locals'")),
    ] {
        match render(&main, RenderLimits::default()) {
            Err(RenderError::Evaluation {
                source: EvaluationError::TooDeep { file, depth, .. },
                ..
            }) => {
                assert_eq!(file.as_str(), "envs/t/main.jsonnet");
                assert!(depth > cfgupdate_core::render::MAX_NESTING_DEPTH, "{depth}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Nesting within the limit renders.
    let fine = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    assert!(
        render(
            &format!("local deep = {fine};\n{}", config_map("'deep'")),
            RenderLimits::default()
        )
        .is_ok()
    );
}
