//! The Kubernetes manifests under `deploy/` (docs/deploy.md): the committed YAML is the render
//! of their Jsonnet, and every object is valid against the Kubernetes API's own schemas
//! (PyPI `kubernetes-validate`, which carries them: no cluster, no hand-written checks).

use std::path::{Path, PathBuf};
use std::process::Command;

use cfgupdate_tests::python_venv;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn rendered() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for target in std::fs::read_dir(deploy().join("rendered")).unwrap() {
        for file in std::fs::read_dir(target.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
}

#[test]
fn the_committed_yaml_is_the_render_of_the_jsonnet() {
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(["check", "-C"])
        .arg(deploy())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "run `cfgupdate render -C deploy --write` after changing deploy/: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_object_validates_against_the_kubernetes_api_schemas() {
    let bin = python_venv("kubernetes-validate");
    let files = rendered();
    let kinds: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for kind in [
        "deployment-",
        "service-",
        "networkpolicy-",
        "poddisruptionbudget-",
    ] {
        assert!(
            kinds.iter().any(|k| k.starts_with(kind)),
            "{kind} in {kinds:?}"
        );
    }
    let output = Command::new(bin.join("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.33"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_validator_refuses_an_object_the_api_would_refuse() {
    // The check above can fail: a Deployment with a string for `replicas` and an unknown field.
    let bin = python_venv("kubernetes-validate");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {}, bogus: 1}\n",
    )
    .unwrap();
    let output = Command::new(bin.join("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.33"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn the_deployment_runs_locked_down_with_probes_and_limits() {
    let text = std::fs::read_to_string(
        deploy().join("rendered/example/deployment-cfgupdate-cfgupdate.yaml"),
    )
    .unwrap();
    for expected in [
        "path: /healthz",
        "path: /readyz",
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        "limits:",
        "secretName: cfgupdate",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    // Secrets reach the process as files, never as values in the manifest.
    assert!(text.contains("CFGUPDATE_CI_TOKEN_FILE"));
    assert!(!text.contains("name: CFGUPDATE_CI_TOKEN\n"));
}
