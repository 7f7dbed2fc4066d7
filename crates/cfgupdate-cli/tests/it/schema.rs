//! What the binary generates from its own definitions: `cfgupdate schema` (docs/config.md),
//! shell completions and the man page. The schema is one that every pipeline file of the project
//! satisfies, and that refuses the shapes the reader refuses. Checked with PyPI `jsonschema`
//! (an independent validator) on the files as TOML parses them (Python's `tomllib`).

use std::path::{Path, PathBuf};
use std::process::Command;

use cfgupdate_tests::python_venv;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_file(dir: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let path = dir.join("cfgupdate.schema.json");
    std::fs::write(&path, &output.stdout).unwrap();
    path
}

/// Which of `files` the schema accepts (`jsonschema`, draft 2020-12), by path.
fn valid(schema: &Path, files: &[PathBuf]) -> Vec<(PathBuf, Result<(), String>)> {
    let bin = python_venv("jsonschema");
    let script = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        document = tomllib.load(f)
    errors = [e.message for e in validator.iter_errors(document)]
    print(json.dumps({"path": path, "errors": errors}))
"#;
    let output = Command::new(bin.join("python"))
        .args(["-c", script])
        .arg(schema)
        .args(files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let verdict: serde_json::Value = serde_json::from_str(line).unwrap();
            let errors = verdict["errors"].as_array().unwrap();
            let path = PathBuf::from(verdict["path"].as_str().unwrap());
            if errors.is_empty() {
                (path, Ok(()))
            } else {
                (path, Err(format!("{errors:?}")))
            }
        })
        .collect()
}

/// The example of docs/config.md, every key of the file used once.
const EVERY_KEY: &str = r#"
[render]
output = "generated/{target}"
jpath = ["lib", "vendor"]

[strict]
branch = "auto"
contexts = ["kubeconform", "policy"]

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "internal"
images = { tags = "images/internal/tags.json", digests = "images/internal/digests.json" }
targets = ["internal"]
soak = "10m"
hold = ["billing"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet", "envs/prod/**/*.jsonnet"] }
targets = ["prod-us"]
approval = true
pin = "tag"
freeze = [
  { from = "2026-12-20T00:00:00Z", to = "2027-01-04T00:00:00Z", reason = "holidays" },
  { cron = "0 17 * * FRI", duration = "63h", timezone = "Europe/Berlin", reason = "weekend" },
]

[target.staging-us]
entrypoint = "envs/staging-us/main.jsonnet"
ext_vars = { region = "us-east-1" }
tlas = { }
argocd_app = "cfg-app-staging-us"

[target.staging-eu]
entrypoint = "envs/staging-eu/main.jsonnet"

[target.internal]
entrypoint = "envs/internal/main.jsonnet"

[target.prod-us]
entrypoint = "envs/prod-us/main.jsonnet"
"#;

#[test]
fn every_pipeline_file_of_the_project_satisfies_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema_file(dir.path());
    let every_key = dir.path().join("every-key.toml");
    std::fs::write(&every_key, EVERY_KEY).unwrap();
    let mut files = vec![every_key];
    for fixture in [
        "deploy/cfgupdate.toml",
        "tests/fixtures/render/bench/cfgupdate.toml",
        "tests/fixtures/render/repo/cfgupdate.toml",
    ] {
        files.push(workspace().join(fixture));
    }
    for (path, verdict) in valid(&schema, &files) {
        assert_eq!(verdict, Ok(()), "{}", path.display());
    }
    // And the reader takes the every-key file too (exit 0 or a problem other than the file's
    // shape: its targets' entrypoints do not exist here).
    let core = cfgupdate_core::Pipeline::parse("cfgupdate.toml", EVERY_KEY);
    assert!(core.is_ok(), "{core:?}");
}

#[test]
fn the_schema_refuses_the_shapes_the_reader_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema_file(dir.path());
    let cases = [
        (
            "an unknown key in a wave",
            EVERY_KEY.replace("soak = \"10m\"", "soak = \"10m\"\nsoke = \"1h\""),
        ),
        ("a misspelt table", EVERY_KEY.replace("[render]", "[rendr]")),
        (
            "a wave without images",
            EVERY_KEY.replace("images = \"images/staging.json\"\n", ""),
        ),
        (
            "approval as a string",
            EVERY_KEY.replace("approval = true", "approval = \"yes\""),
        ),
        (
            "a pin that is neither digest nor tag",
            EVERY_KEY.replace("pin = \"tag\"", "pin = \"sha\""),
        ),
        (
            "a target without entrypoint",
            EVERY_KEY.replace(
                "entrypoint = \"envs/internal/main.jsonnet\"",
                "argocd_app = \"x\"",
            ),
        ),
        (
            "an upper-case wave name",
            EVERY_KEY.replace("name = \"staging\"", "name = \"Staging\""),
        ),
        (
            "images with an unknown layout",
            EVERY_KEY.replace("images = { jsonnet = [", "images = { libsonnet = ["),
        ),
        (
            "an ext var that is not a string",
            EVERY_KEY.replace("region = \"us-east-1\"", "region = 1"),
        ),
        (
            "a freeze window both fixed and recurring",
            EVERY_KEY.replace("{ cron = ", "{ from = \"2026-12-20T00:00:00Z\", cron = "),
        ),
        (
            "a freeze window without a reason",
            EVERY_KEY.replace(", reason = \"holidays\"", ""),
        ),
        (
            "a recurring freeze window without a duration",
            EVERY_KEY.replace("duration = \"63h\", ", ""),
        ),
        (
            "a CI check named twice in contexts",
            EVERY_KEY.replace("\"kubeconform\", \"policy\"", "\"policy\", \"policy\""),
        ),
        (
            "an empty CI check name in contexts",
            EVERY_KEY.replace("\"kubeconform\", \"policy\"", "\"kubeconform\", \"\""),
        ),
        (
            "an unknown key in a freeze window",
            EVERY_KEY.replace("reason = \"weekend\"", "reason = \"weekend\", tz = \"UTC\""),
        ),
    ];
    let mut files = Vec::new();
    for (index, (_, text)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case-{index}.toml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    for ((name, text), (_, verdict)) in cases.iter().zip(valid(&schema, &files)) {
        assert!(verdict.is_err(), "the schema accepts {name}");
        assert!(
            cfgupdate_core::Pipeline::parse("cfgupdate.toml", text).is_err(),
            "the reader accepts {name}"
        );
    }
}

fn cfgupdate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn completions_and_the_man_page_come_from_the_argument_definitions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = cfgupdate(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).unwrap();
        for word in ["publish", "deployed", "repo", "app-commit", "state"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        assert!(
            !script.contains("evaluate-worker"),
            "{shell} completions offer a hidden command"
        );
    }
    let output = cfgupdate(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    let output = cfgupdate(&["man"]);
    assert!(output.status.success(), "{output:?}");
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(page.contains(".TH cfgupdate 1"), "{page}");
    for command in [
        "publish", "deployed", "promote", "approve", "serve", "schema",
    ] {
        assert!(page.contains(command), "the man page lacks {command}");
    }
    assert!(
        !page.contains("evaluate-worker"),
        "a hidden command is in the man page"
    );
}
