//! Property tests: Jsonnet built from random stacks of the grammar's recursive productions,
//! from shallow to far deeper than the limit, in an image file, an imported file of any
//! extension and an entrypoint. Whatever is generated, nothing aborts the process, and the
//! answer is a value, a Jsonnet error, or a refusal naming the file; and whatever the depth
//! check accepts is parsed, edited and evaluated without a refusal for depth.

use crate::render_support;

use std::collections::BTreeMap;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::{
    EvaluationError, RenderError, RenderLimits, RevisionFiles, read_pipeline, render_target,
};
use cfgupdate_core::render::{MAX_NESTING_DEPTH as MAX_DEPTH, check_nesting};
use cfgupdate_core::slots::jsonnet::find_slots;
use proptest::prelude::*;
use render_support::memory_repo;

const PIPELINE: &str = "[render]\noutput = \"generated/{target}\"\n\n[[wave]]\nname = \"w\"\nimages = \"i.json\"\ntargets = [\"t\"]\n\n[target.t]\nentrypoint = \"envs/t/main.jsonnet\"\n";

/// One layer: text before the inner expression and text after it.
fn layer() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop_oneof![
        Just(("-", "")),
        Just(("!", "")),
        Just(("~", "")),
        Just(("+", "")),
        Just(("(", ")")),
        Just(("[", "]")),
        Just(("{ a: ", " }")),
        Just(("[", " for x in [1]]")),
        Just(("{ [k]: ", " for k in ['a'] }")),
        Just(("local a = 1; ", "")),
        Just(("local a = 1, b = 2; ", "")),
        Just(("if true then ", " else 0")),
        Just(("if false then 0 else ", "")),
        Just(("assert true; ", "")),
        Just(("error ", "")),
        Just(("(function(x) ", ")(1)")),
        Just(("std.id(", ")")),
        Just(("1 + ", "")),
        Just(("", " + 1")),
        Just(("", " * 1")),
        Just(("", " == 1")),
        Just(("", ".a")),
        Just(("{ a: 1 } + ", "")),
        Just(("", "{ a: 1 }")),
        Just(("import 'x.libsonnet' + ", "")),
    ]
}

/// Runs of layers, each repeated: up to a few times the limit in all.
fn expression() -> impl Strategy<Value = String> {
    prop::collection::vec((layer(), 1usize..4_000), 1..6).prop_map(|runs| {
        let mut before = String::new();
        let mut after = Vec::new();
        for ((open, close), count) in runs {
            before.push_str(&open.repeat(count));
            after.push(close.repeat(count));
        }
        after.reverse();
        format!("{before}1{}", after.concat())
    })
}

fn extension() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("libsonnet"),
        Just("jsonnet"),
        Just("json"),
        Just("txt"),
        Just("yaml"),
        Just("")
    ]
}

fn render(files: Vec<(String, String)>) -> Result<Vec<String>, RenderError> {
    let mut all = vec![("cfgupdate.toml".to_owned(), PIPELINE.to_owned())];
    all.push(("envs/t/x.libsonnet".to_owned(), "{ a: 1 }".to_owned()));
    all.extend(files);
    let repo = memory_repo(&all);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&source, "here").unwrap();
    let target = pipeline.targets.values().next().unwrap();
    render_target(&source, &pipeline, target, &RenderLimits::default())
        .map(|rendered| rendered.objects.iter().map(|o| o.name.clone()).collect())
}

fn config_map(data: &str) -> String {
    format!(
        "{{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: 'm' }}, data: {{ d: std.toString({data}) }} }}\n"
    )
}

/// A render's answer is a value, a Jsonnet error, or a refusal for depth naming `file`
/// (only when the check refuses that file's text).
fn judge(result: Result<Vec<String>, RenderError>, file: &str, refused: bool) {
    match result {
        Ok(_) => {}
        Err(RenderError::Evaluation { source, .. }) => match source {
            EvaluationError::Jsonnet { message, .. } => {
                assert!(!message.is_empty());
                assert!(message.chars().count() < 2_000, "{}", message.len());
            }
            EvaluationError::TooDeep { file: named, .. } => {
                assert!(refused, "{file} was accepted by the check but refused");
                assert_eq!(named.as_str(), file);
            }
            other => panic!("{file}: {other}"),
        },
        Err(other) => panic!("{file}: {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn an_image_file_of_any_depth_is_read_or_refused_naming_it(expression in expression()) {
        let text = format!("{{\n  api: 'registry.example.com/api:1', // cfgupdate: api\n  deep: {expression},\n}}\n");
        let accepted = check_nesting(&text, MAX_DEPTH).is_ok();
        match find_slots("images/x.jsonnet", &text) {
            Ok(slots) => prop_assert_eq!(slots.len(), 1),
            Err(error) => {
                let error = error.to_string();
                prop_assert!(error.starts_with("images/x.jsonnet:"), "{}", error);
                prop_assert!(
                    !accepted || !error.contains("deeper than cfgupdate parses"),
                    "{}", error
                );
            }
        }
    }

    #[test]
    fn an_entrypoint_of_any_depth_renders_or_is_refused_naming_it(expression in expression()) {
        let main = format!("local deep = {expression};\n{}", config_map("deep"));
        let refused = check_nesting(&main, MAX_DEPTH).is_err();
        judge(render(vec![("envs/t/main.jsonnet".into(), main)]), "envs/t/main.jsonnet", refused);
    }

    #[test]
    fn an_imported_file_of_any_name_and_depth_renders_or_is_refused_naming_it(
        expression in expression(),
        extension in extension(),
    ) {
        let name = if extension.is_empty() { "deep".to_owned() } else { format!("deep.{extension}") };
        let main = format!("local deep = import '{name}';\n{}", config_map("deep"));
        let refused = check_nesting(&expression, MAX_DEPTH).is_err();
        let file = format!("envs/t/{name}");
        judge(
            render(vec![("envs/t/main.jsonnet".into(), main), (file.clone(), expression)]),
            &file,
            refused,
        );
    }
}
