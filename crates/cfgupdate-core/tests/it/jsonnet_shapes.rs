//! The shapes real config repositories give their images (issue 11), each either edited
//! exactly or refused with a sentence naming the line.
//!
//! The fixtures under `fixtures/shapes/` were written for this suite after the layouts of
//! public Jsonnet (Tanka environments, kube-prometheus's `$._config.imageRepos`, kube-thanos's
//! defaults, ksonnet's `container.new(name, image)`, Renovate's pins, values objects, format
//! strings and concatenations); no third-party code is in them.
//!
//! An edit is exact when
//! - only bytes inside string literals change, each literal keeping its quotes: the text
//!   lexes to the same tokens, and only string tokens differ;
//! - evaluating the entrypoint with the project's evaluator before and after differs by the
//!   image alone: every value that changes is the service's image, from the old reference to
//!   the new one, and at least one does.
//!
//! A refusal names the file and line and says why, and writes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use cfgupdate_core::render::evaluate;
use cfgupdate_core::render::{EvaluationInput, RenderLimits, SourceError, SourceFiles};
use cfgupdate_core::slots::{WaveFiles, write_wave};
use cfgupdate_core::{ImageRef, ImageSet, RepoPath, ServiceName};
use cfgupdate_core::{ImageSetLayout, Pin};
use serde_json::Value;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A fixture repository held in memory.
struct Files(BTreeMap<RepoPath, String>);

impl Files {
    fn load(dir: &str) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/shapes")
            .join(dir);
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<RepoPath, String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let relative = path.strip_prefix(root).unwrap().to_str().unwrap();
                    out.insert(
                        RepoPath::parse(relative).unwrap(),
                        std::fs::read_to_string(&path).unwrap(),
                    );
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(&root, &root, &mut files);
        Files(files)
    }
}

impl SourceFiles for Files {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(self.0.get(path).map(|text| text.clone().into_bytes()))
    }

    fn list(&self, dir: &str) -> Result<Vec<RepoPath>, SourceError> {
        Ok(self
            .0
            .keys()
            .filter(|path| dir.is_empty() || path.as_str().starts_with(&format!("{dir}/")))
            .cloned()
            .collect())
    }
}

/// What a case must come to.
enum Expect {
    /// Edited exactly: in the evaluated value, `before` becomes `after` (and nothing else
    /// changes).
    Edited { before: String, after: String },
    /// Refused: the message names `file:line` (when `line` is given) and contains `says`.
    Refused {
        line: Option<usize>,
        says: &'static str,
    },
}

struct Case {
    /// The fixture directory under `fixtures/shapes/`.
    dir: &'static str,
    /// Its entrypoint, evaluated before and after.
    entrypoint: &'static str,
    /// Library search paths.
    jpath: &'static [&'static str],
    /// The file holding the slots (the wave's image set).
    file: &'static str,
    service: &'static str,
    /// The reference written.
    new: String,
    pin: Pin,
    expect: Expect,
}

fn evaluated(files: &Files, case: &Case) -> Value {
    let jpath: Vec<RepoPath> = case
        .jpath
        .iter()
        .map(|p| RepoPath::parse(p).unwrap())
        .collect();
    let entrypoint = RepoPath::parse(case.entrypoint).unwrap();
    let input = EvaluationInput {
        entrypoint: &entrypoint,
        jpath: &jpath,
        ext_vars: &BTreeMap::new(),
        tlas: &BTreeMap::new(),
    };
    evaluate(files, input, &RenderLimits::default())
        .unwrap_or_else(|error| panic!("{}: {error}", case.dir))
        .value
}

/// Every leaf where `before` and `after` differ, with its path.
fn differences(path: &str, before: &Value, after: &Value, out: &mut Vec<(String, Value, Value)>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() && a.keys().eq(b.keys()) => {
            for (key, value) in a {
                differences(&format!("{path}.{key}"), value, &b[key], out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{index}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push((path.to_owned(), a.clone(), b.clone())),
    }
}

/// Only bytes inside string literals changed, and every literal kept its quotes.
fn assert_only_literals_changed(file: &str, before: &str, after: &str) {
    use jrsonnet_lexer::SyntaxKind::*;
    let old = jrsonnet_lexer::lex(before);
    let new = jrsonnet_lexer::lex(after);
    assert_eq!(old.len(), new.len(), "{file}: the tokens changed");
    let mut changed = 0;
    for (a, b) in old.iter().zip(&new) {
        assert_eq!(a.kind, b.kind, "{file}: {:?} became {:?}", a.text, b.text);
        if a.text == b.text {
            continue;
        }
        changed += 1;
        let open = match a.kind {
            STRING_SINGLE | STRING_DOUBLE => 1,
            STRING_SINGLE_VERBATIM | STRING_DOUBLE_VERBATIM => 2,
            kind => panic!(
                "{file}: a {kind:?} token changed: {:?} -> {:?}",
                a.text, b.text
            ),
        };
        assert_eq!(a.text[..open], b.text[..open], "{file}: quotes changed");
        assert_eq!(a.text[a.text.len() - 1..], b.text[b.text.len() - 1..]);
    }
    assert!(changed > 0, "{file}: nothing changed");
}

fn run(case: &Case) {
    let files = Files::load(case.dir);
    let path = RepoPath::parse(case.file).unwrap();
    let layout = ImageSetLayout::Jsonnet(vec![case.file.to_owned()]);
    let wave: WaveFiles = BTreeMap::from([(path.clone(), Some(files.0[&path].clone()))]);
    let updates: ImageSet = BTreeMap::from([(
        ServiceName::parse(case.service).unwrap(),
        ImageRef::parse(&case.new).unwrap(),
    )]);
    let written = write_wave(&layout, case.pin, &wave, &updates);
    let label = format!("{} ({}, {})", case.dir, case.file, case.service);
    match &case.expect {
        Expect::Refused { line, says } => {
            let message = match written {
                Ok(changed) => panic!("{label}: written, not refused: {changed:?}"),
                Err(error) => error.to_string(),
            };
            if let Some(line) = line {
                assert!(
                    message.starts_with(&format!("{}:{line}: ", case.file)),
                    "{label}: {message}"
                );
            }
            assert!(message.contains(says), "{label}: {message}");
        }
        Expect::Edited { before, after } => {
            let changed = written.unwrap_or_else(|error| panic!("{label}: {error}"));
            let text = &changed[&path];
            assert_only_literals_changed(case.file, &files.0[&path], text);
            let old_value = evaluated(&files, case);
            let mut edited = Files(files.0.clone());
            edited.0.insert(path.clone(), text.clone());
            let new_value = evaluated(&edited, case);
            let mut found = Vec::new();
            differences("", &old_value, &new_value, &mut found);
            assert!(!found.is_empty(), "{label}: the evaluation did not change");
            for (at, old, new) in found {
                assert_eq!(
                    (old.as_str(), new.as_str()),
                    (Some(before.as_str()), Some(after.as_str())),
                    "{label}: `{at}` changed"
                );
            }
        }
    }
}

fn edited(before: impl Into<String>, after: impl Into<String>) -> Expect {
    Expect::Edited {
        before: before.into(),
        after: after.into(),
    }
}

fn refused(line: usize, says: &'static str) -> Expect {
    Expect::Refused {
        line: Some(line),
        says,
    }
}

#[test]
fn tanka_environment_fields_and_markers_are_edited_exactly() {
    let tanka = |file, service, before: String, new: String| Case {
        dir: "tanka",
        entrypoint: "environments/prod/main.jsonnet",
        jpath: &["lib"],
        file,
        service,
        new: new.clone(),
        pin: Pin::Digest,
        expect: edited(before, new),
    };
    run(&tanka(
        "environments/prod/images.libsonnet",
        "api",
        format!("registry.example.com/shop/api:7d1043473d55bfa90e8530d35801d4e381bc69f0@{D1}"),
        format!("registry.example.com/shop/api:8e2154584e66cab1f9641f46e912f5d492cd7a01@{D2}"),
    ));
    run(&tanka(
        "environments/prod/images.libsonnet",
        "worker",
        format!("registry.example.com/shop/worker:2.4.1@{D1}"),
        format!("registry.example.com/shop/worker:2.5.0@{D2}"),
    ));
    run(&tanka(
        "environments/prod/main.jsonnet",
        "migrate",
        format!("registry.example.com/shop/api:6.0.0@{D1}"),
        format!("registry.example.com/shop/api:6.1.0@{D2}"),
    ));
}

#[test]
fn a_field_that_is_not_an_image_is_refused_naming_its_line() {
    run(&Case {
        dir: "tanka",
        entrypoint: "environments/prod/main.jsonnet",
        jpath: &["lib"],
        file: "environments/prod/images.libsonnet",
        service: "namespace",
        new: format!("registry.example.com/shop/namespace:1@{D2}"),
        pin: Pin::Digest,
        expect: refused(5, "neither a tag nor a digest"),
    });
}

fn image_repos(service: &'static str, new: String, pin: Pin, expect: Expect) -> Case {
    Case {
        dir: "image-repos",
        entrypoint: "main.jsonnet",
        jpath: &[],
        file: "main.jsonnet",
        service,
        new,
        pin,
        expect,
    }
}

#[test]
fn image_repos_with_versions_and_digests_are_edited_part_by_part() {
    run(&image_repos(
        "prometheus",
        format!("registry.example.com/mirror/prometheus:v2.45.0@{D2}"),
        Pin::Digest,
        edited(
            format!("quay.io/prometheus/prometheus:v2.41.0@{D1}"),
            format!("registry.example.com/mirror/prometheus:v2.45.0@{D2}"),
        ),
    ));
}

#[test]
fn image_repos_without_a_digest_slot_are_refused_by_pin_digest_and_written_by_tag_with_pin_tag() {
    let new = format!("quay.io/prometheus/alertmanager:v0.26.0@{D2}");
    run(&image_repos(
        "alertmanager",
        new.clone(),
        Pin::Digest,
        Expect::Refused {
            line: None,
            says: "service `alertmanager` would lose its digest",
        },
    ));
    run(&image_repos(
        "alertmanager",
        new,
        Pin::Tag,
        edited(
            "quay.io/prometheus/alertmanager:v0.25.0",
            "quay.io/prometheus/alertmanager:v0.26.0",
        ),
    ));
}

fn renovate(service: &'static str, new: String, expect: Expect) -> Case {
    Case {
        dir: "renovate",
        entrypoint: "main.jsonnet",
        jpath: &[],
        file: "images.libsonnet",
        service,
        new,
        pin: Pin::Digest,
        expect,
    }
}

#[test]
fn renovate_pins_are_kept_or_the_shape_is_refused_by_name() {
    run(&renovate(
        "bot",
        format!("ghcr.io/renovatebot/renovate:43.2.0@{D2}"),
        edited(
            format!("ghcr.io/renovatebot/renovate:43.1.0@{D1}"),
            format!("ghcr.io/renovatebot/renovate:43.2.0@{D2}"),
        ),
    ));
    run(&renovate(
        "scanner",
        format!("ghcr.io/example/scanner:1.9.4@{D2}"),
        refused(5, "the field `image`"),
    ));
    run(&renovate(
        "runner",
        format!("ghcr.io/example/runner:5.1.0@{D2}"),
        edited(
            format!("ghcr.io/example/runner:5.0.0@{D1}"),
            format!("ghcr.io/example/runner:5.1.0@{D2}"),
        ),
    ));
}

fn ksonnet(service: &'static str, new: String, expect: Expect) -> Case {
    Case {
        dir: "ksonnet",
        entrypoint: "main.jsonnet",
        jpath: &["lib"],
        file: "main.jsonnet",
        service,
        new,
        pin: Pin::Digest,
        expect,
    }
}

#[test]
fn ksonnet_container_new_writes_the_image_and_never_the_container_name() {
    run(&ksonnet(
        "kafka",
        format!("confluentinc/cp-kafka:7.6.0@{D2}"),
        edited(
            format!("confluentinc/cp-kafka:7.5.0@{D1}"),
            format!("confluentinc/cp-kafka:7.6.0@{D2}"),
        ),
    ));
    run(&ksonnet(
        "zookeeper",
        format!("confluentinc/cp-zookeeper:7.6.0@{D2}"),
        refused(15, "the first argument of `container.new(...)`"),
    ));
}

#[test]
fn values_objects_of_parts_are_edited_and_chart_style_values_refused() {
    let values = |service, new: String, expect| Case {
        dir: "values",
        entrypoint: "main.jsonnet",
        jpath: &[],
        file: "values.libsonnet",
        service,
        new,
        pin: Pin::Digest,
        expect,
    };
    run(&values(
        "api",
        format!("registry.example.com/shop/api:1.5.0@{D2}"),
        edited(
            format!("registry.example.com/shop/api:1.4.2@{D1}"),
            format!("registry.example.com/shop/api:1.5.0@{D2}"),
        ),
    ));
    run(&values(
        "web",
        format!("registry.example.com/shop/web:3.1.0@{D2}"),
        refused(7, "`repository`, `pullPolicy`"),
    ));
}

#[test]
fn format_strings_joins_and_concatenations_are_refused_and_a_whole_literal_beside_them_edited() {
    let formats = |service, expect| Case {
        dir: "formats",
        entrypoint: "main.jsonnet",
        jpath: &[],
        file: "main.jsonnet",
        service,
        new: format!("quay.io/example/{service}:1.3.0@{D2}"),
        pin: Pin::Digest,
        expect,
    };
    run(&formats("api", refused(6, "an operand of `%`")));
    run(&formats(
        "web",
        refused(7, "formatted into a string by `%`"),
    ));
    run(&formats(
        "cli",
        refused(8, "formatted into a string by `%`"),
    ));
    run(&formats("worker", refused(9, "`std.format`")));
    run(&formats("batch", refused(10, "`std.join`")));
    run(&formats("cron", refused(11, "`std.join`")));
    run(&formats("gateway", refused(12, "an operand of `+`")));
    run(&formats(
        "proxy",
        edited(
            format!("quay.io/example/proxy:1.2.3@{D1}"),
            format!("quay.io/example/proxy:1.3.0@{D2}"),
        ),
    ));
}

#[test]
fn error_messages_and_container_names_beside_images_are_refused_and_the_image_edited() {
    let traps = |service, new: String, expect| Case {
        dir: "traps",
        entrypoint: "main.jsonnet",
        jpath: &[],
        file: "main.jsonnet",
        service,
        new,
        pin: Pin::Digest,
        expect,
    };
    run(&traps(
        "store",
        format!("quay.io/thanos/thanos:v0.32.0@{D2}"),
        refused(3, "the message of `error`"),
    ));
    run(&traps(
        "sidecar",
        format!("quay.io/thanos/thanos:v0.32.0@{D2}"),
        refused(4, "neither a tag nor a digest"),
    ));
    run(&traps(
        "thanos",
        format!("quay.io/thanos/thanos:v0.32.0@{D2}"),
        edited(
            format!("quay.io/thanos/thanos:v0.31.0@{D1}"),
            format!("quay.io/thanos/thanos:v0.32.0@{D2}"),
        ),
    ));
    run(&traps(
        "namespace",
        format!("quay.io/thanos/namespace:1@{D2}"),
        refused(20, "neither a tag nor a digest"),
    ));
}

#[test]
fn an_empty_literal_is_a_placeholder_that_takes_the_first_image() {
    run(&Case {
        dir: "placeholder",
        entrypoint: "main.jsonnet",
        jpath: &[],
        file: "main.jsonnet",
        service: "api",
        new: format!("registry.example.com/shop/api:1.0.0@{D2}"),
        pin: Pin::Digest,
        expect: edited("", format!("registry.example.com/shop/api:1.0.0@{D2}")),
    });
}
