//! No Jsonnet in the repository can abort the process (issue 11, finding 1): every construct
//! through which the parsers or the evaluator recurse, nested far deeper than any
//! configuration, in an image file, an imported file of any name and an entrypoint, is refused
//! with an error naming the file; and nested as deep as the limit allows, it is parsed, edited
//! and evaluated without overflowing a stack, on an ordinary 2 MiB test thread.

use crate::deep_support;
use crate::render_support;

use std::collections::BTreeMap;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::{
    EvaluationError, RenderError, RenderLimits, RevisionFiles, read_pipeline, render_target,
};
use cfgupdate_core::render::{MAX_NESTING_DEPTH as MAX_DEPTH, check_nesting};
use cfgupdate_core::slots::ImageSet;
use cfgupdate_core::slots::jsonnet::{apply, find_slots};
use cfgupdate_core::{ImageRef, ServiceName};
use deep_support::{CONSTRUCTS, deep};
use render_support::memory_repo;

const PIPELINE: &str = "[render]\noutput = \"generated/{target}\"\n\n[[wave]]\nname = \"w\"\nimages = \"i.json\"\ntargets = [\"t\"]\n\n[target.t]\nentrypoint = \"envs/t/main.jsonnet\"\n";

/// Far deeper than any configuration, and than the old checks let through safely.
const FAR_TOO_DEEP: usize = 100_000;

fn render(files: &[(&str, String)]) -> Result<Vec<String>, RenderError> {
    let mut all = vec![("cfgupdate.toml".to_owned(), PIPELINE.to_owned())];
    all.extend(
        files
            .iter()
            .map(|(path, text)| ((*path).to_owned(), text.clone())),
    );
    let repo = memory_repo(&all);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&source, "here").unwrap();
    let target = pipeline.targets.values().next().unwrap();
    render_target(&source, &pipeline, target, &RenderLimits::default()).map(|rendered| {
        rendered
            .objects
            .iter()
            .map(|object| object.name.clone())
            .collect()
    })
}

fn config_map(data: &str) -> String {
    format!(
        "{{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: 'm' }}, data: {{ d: std.toString({data}) }} }}\n"
    )
}

fn image_file(expression: &str) -> String {
    format!(
        "{{\n  api: 'registry.example.com/api:1', // cfgupdate: api\n  deep: {expression},\n}}\n"
    )
}

fn updates() -> ImageSet {
    let reference = format!("registry.example.com/api:2@sha256:{}", "a".repeat(64));
    ImageSet::from([(
        ServiceName::parse("api").unwrap(),
        ImageRef::parse(&reference).unwrap(),
    )])
}

fn assert_too_deep(result: Result<Vec<String>, RenderError>, file: &str, construct: &str) {
    match result {
        Err(RenderError::Evaluation {
            source: error @ EvaluationError::TooDeep { .. },
            ..
        }) => {
            let EvaluationError::TooDeep {
                file: named, limit, ..
            } = &error
            else {
                unreachable!()
            };
            assert_eq!(named.as_str(), file, "{construct}");
            assert_eq!(*limit, MAX_DEPTH);
            assert!(error.to_string().starts_with(file), "{construct}: {error}");
        }
        other => panic!("{construct} in {file}: {}", shown(other)),
    }
}

/// A result, cut short for a failure message.
fn shown(result: Result<Vec<String>, RenderError>) -> String {
    format!("{result:?}").chars().take(500).collect()
}

#[test]
fn every_construct_nested_far_too_deep_in_an_image_file_is_refused_naming_its_line() {
    for construct in CONSTRUCTS {
        let text = image_file(&deep(construct, FAR_TOO_DEEP));
        let read = find_slots("images/prod.jsonnet", &text).unwrap_err();
        let write = apply("images/prod.jsonnet", &text, &updates()).unwrap_err();
        for error in [read.to_string(), write.to_string()] {
            assert!(
                error.starts_with("images/prod.jsonnet:3:"),
                "{construct}: {error}"
            );
            assert!(
                error.contains("deeper than cfgupdate parses"),
                "{construct}: {error}"
            );
        }
    }
}

#[test]
fn every_construct_nested_far_too_deep_in_an_entrypoint_is_refused_naming_it() {
    for construct in CONSTRUCTS {
        let main = format!(
            "local deep = {};\n{}",
            deep(construct, FAR_TOO_DEEP),
            config_map("1")
        );
        assert_too_deep(
            render(&[("envs/t/main.jsonnet", main)]),
            "envs/t/main.jsonnet",
            construct,
        );
    }
}

#[test]
fn every_construct_nested_far_too_deep_in_an_imported_file_of_any_name_is_refused_naming_it() {
    for (construct, name) in CONSTRUCTS.iter().zip(
        [
            "deep.txt",
            "deep",
            "deep.libsonnet",
            "deep.json",
            "deep.yaml",
        ]
        .iter()
        .cycle(),
    ) {
        let main = format!("local deep = import '{name}';\n{}", config_map("deep"));
        let imported = format!("envs/t/{name}");
        assert_too_deep(
            render(&[
                ("envs/t/main.jsonnet", main),
                (&imported, deep(construct, FAR_TOO_DEEP)),
            ]),
            &imported,
            construct,
        );
    }
}

#[test]
fn a_deep_file_read_as_data_with_importstr_or_importbin_is_not_parsed_and_renders() {
    let text = deep("unary_minus", FAR_TOO_DEEP);
    for keyword in ["importstr", "importbin"] {
        let main = format!(
            "local deep = {keyword} 'deep.txt';\n{}",
            config_map("std.length(deep)")
        );
        let rendered = render(&[
            ("envs/t/main.jsonnet", main),
            ("envs/t/deep.txt", text.clone()),
        ]);
        assert_eq!(rendered.unwrap(), vec!["m".to_owned()], "{keyword}");
    }
    // The same file imported as code by another line is checked.
    let main = format!(
        "local a = importstr 'deep.txt';\nlocal b = import 'deep.txt';\n{}",
        config_map("std.length(a)")
    );
    assert_too_deep(
        render(&[("envs/t/main.jsonnet", main), ("envs/t/deep.txt", text)]),
        "envs/t/deep.txt",
        "importstr and import",
    );
}

/// The largest repetition of `construct` the depth check accepts inside `wrap`.
fn deepest_accepted(construct: &str, wrap: impl Fn(&str) -> String) -> usize {
    let (mut low, mut high) = (1usize, MAX_DEPTH * 2);
    assert!(check_nesting(&wrap(&deep(construct, low)), MAX_DEPTH).is_ok());
    assert!(check_nesting(&wrap(&deep(construct, high)), MAX_DEPTH).is_err());
    while high - low > 1 {
        let middle = (low + high) / 2;
        if check_nesting(&wrap(&deep(construct, middle)), MAX_DEPTH).is_ok() {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

#[test]
fn every_construct_as_deep_as_the_limit_allows_is_edited_without_overflowing_a_stack() {
    for construct in CONSTRUCTS {
        let n = deepest_accepted(construct, image_file);
        let text = image_file(&deep(construct, n));
        let slots = find_slots("images/prod.jsonnet", &text)
            .unwrap_or_else(|error| panic!("{construct} x{n}: {error}"));
        assert_eq!(slots.len(), 1, "{construct}");
        let applied = apply("images/prod.jsonnet", &text, &updates())
            .unwrap_or_else(|error| panic!("{construct} x{n}: {error}"));
        assert!(applied.text.contains("api:2@sha256:"), "{construct}");
    }
}

#[test]
fn every_construct_as_deep_as_the_limit_allows_is_evaluated_without_overflowing_a_stack() {
    let wrap = |expression: &str| format!("local deep = {expression};\n{}", config_map("deep"));
    for construct in CONSTRUCTS {
        let n = deepest_accepted(construct, wrap);
        let imported = deep(construct, n);
        let main = format!("local deep = import 'deep.txt';\n{}", config_map("deep"));
        for files in [
            vec![("envs/t/main.jsonnet", wrap(&imported))],
            vec![
                ("envs/t/main.jsonnet", main),
                ("envs/t/deep.txt", imported.clone()),
            ],
        ] {
            match render(&files) {
                Ok(_) => {}
                // Runtime errors (`error`, an operator on the wrong types, a function value
                // where a string is wanted) are fine: the point is that nothing overflowed.
                Err(RenderError::Evaluation {
                    source: EvaluationError::Jsonnet { .. },
                    ..
                }) => {}
                Err(other) => panic!("{construct} x{n}: {}", shown(Err(other))),
            }
        }
    }
}

#[test]
fn a_value_built_deeper_than_json_is_read_at_run_time_is_invalid_input_not_a_crash() {
    let main = format!(
        "local nest(n) = if n == 0 then [] else [nest(n - 1)];\n{}",
        config_map("nest(200)")
    );
    let plain = "local nest(n) = if n == 0 then [] else [nest(n - 1)];\nnest(200)\n";
    for text in [main.as_str(), plain] {
        match render(&[("envs/t/main.jsonnet", text.to_owned())]) {
            Ok(_) if text == main => {}
            Err(RenderError::Evaluation {
                source: EvaluationError::Jsonnet { message, .. },
                ..
            }) => {
                assert!(
                    message.starts_with("envs/t/main.jsonnet: the value nests more than 128"),
                    "{message}"
                );
            }
            other => panic!("{}", shown(other)),
        }
    }
}

#[test]
fn every_construct_at_moderate_depths_is_edited_on_a_small_stack_without_overflow() {
    // The editor parses on the caller's stack when the depth bound says it is enough: check
    // the depths where that decision is closest, on a thread as small as a test thread's.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            for construct in CONSTRUCTS {
                for n in [5, 20, 40, 60, 80, 120, 200, 400, 800] {
                    let text = image_file(&deep(construct, n));
                    if check_nesting(&text, MAX_DEPTH).is_err() {
                        continue;
                    }
                    let slots = find_slots("images/prod.jsonnet", &text)
                        .unwrap_or_else(|error| panic!("{construct} x{n}: {error}"));
                    assert_eq!(slots.len(), 1, "{construct} x{n}");
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Found by running `deep_jsonnet_props` with more cases: the tree parser recovers from a syntax error and
/// hands back a tree as deep as the file, and that refused tree was dropped on the caller's
/// stack. On a 2 MiB thread, a file the depth check accepts then aborted the process.
#[test]
fn a_deep_file_the_tree_parser_refuses_is_refused_on_a_small_stack_without_overflow() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            // The shape the property test found: `error` and unary `+` chains under a long
            // `+ 1` chain, which the tree parser reports as a missing expression.
            let found = format!(
                "{}{}1{}",
                "error ".repeat(1198),
                "+".repeat(1099),
                " + 1".repeat(3641)
            );
            let mut cases = vec![("found".to_owned(), image_file(&found))];
            for construct in CONSTRUCTS {
                let n = deepest_accepted(construct, |e| image_file(&format!("{e} +")));
                cases.push((
                    format!("{construct} x{n}"),
                    image_file(&format!("{} +", deep(construct, n))),
                ));
            }
            for (name, text) in cases {
                assert!(check_nesting(&text, MAX_DEPTH).is_ok(), "{name}");
                let error = find_slots("images/prod.jsonnet", &text)
                    .expect_err(&name)
                    .to_string();
                assert!(error.starts_with("images/prod.jsonnet:"), "{name}: {error}");
                assert!(error.contains("not valid Jsonnet"), "{name}: {error}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
