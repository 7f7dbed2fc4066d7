//! Shared by the render tests and the render bench (crates/cfgupdate-benches): fixture
//! repositories loaded into memory, and go-jsonnet (PyPI `gojsonnet`, the evaluator Argo CD
//! uses) as the reference.
//!
//! go-jsonnet runs in a Python virtual environment under the target directory
//! (`$CARGO_TARGET_DIR` or `<workspace>/target`), `gojsonnet-venv/`, created with
//! `python3 -m venv` and `pip install gojsonnet==0.22.* pyyaml ruamel.yaml` the first time it
//! is needed (PyYAML and ruamel.yaml are the YAML 1.1 and 1.2 readers the round-trip tests
//! read rendered YAML back with); a file lock keeps tests running in parallel from creating it
//! twice.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cfgupdate_core::MemoryRepository;
use cfgupdate_core::{Pipeline, Target};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fixture under `tests/fixtures/render/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures/render").join(name)
}

/// Every file below `root`, relative, `/`-separated.
pub fn files_of(root: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.push((relative, fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// A repository whose one commit holds `root`'s files, fetched.
pub fn memory_repo(files: &[(String, String)]) -> MemoryRepository {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let mut repo = MemoryRepository::new(&borrowed);
    use cfgupdate_core::ConfigRepository;
    repo.refresh().unwrap();
    repo
}

/// The Python interpreter of a virtual environment that has `gojsonnet`, PyYAML and
/// ruamel.yaml, made on first use by `tests/python-tools.py` through the test kit
/// (`scripts/test.sh` makes it in the background while the workspace compiles).
pub fn gojsonnet_python() -> PathBuf {
    cfgupdate_tests::python_venv("gojsonnet").join("python")
}

/// The pipeline's `[render] jpath`, as go-jsonnet takes it.
pub fn jpath_of(pipeline: &Pipeline) -> Vec<String> {
    pipeline
        .render
        .as_ref()
        .expect("the fixture's pipeline has a [render] section")
        .jpath
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Runs a Python program and returns what it printed; fails with its error output if it failed.
pub fn python_output(command: &mut Command) -> Vec<u8> {
    python_finished(command.output().expect("python starts"))
}

/// What a finished Python program printed; fails with its error output if it failed.
pub fn python_finished(output: std::process::Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// What go-jsonnet evaluates each target to, as JSON, evaluated from `root` with `jpath`.
pub fn gojsonnet_values(
    root: &Path,
    jpath: &[String],
    targets: &BTreeMap<String, Target>,
) -> BTreeMap<String, serde_json::Value> {
    let jobs: serde_json::Value = targets
        .iter()
        .map(|(name, target)| {
            (
                name.clone(),
                serde_json::json!({
                    "entrypoint": target.entrypoint.as_str(),
                    "ext_vars": target.ext_vars,
                    "tlas": target.tlas,
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let script = r#"
import json, sys, _gojsonnet
jobs, jpath = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for name, job in jobs.items():
    text = _gojsonnet.evaluate_file(job["entrypoint"], jpathdir=jpath,
        ext_vars=job["ext_vars"], tla_vars=job["tlas"])
    out[name] = json.loads(text)
print(json.dumps(out))
"#;
    let stdout = python_output(
        Command::new(gojsonnet_python())
            .current_dir(root)
            .args(["-c", script])
            .arg(jobs.to_string())
            .arg(serde_json::to_string(jpath).unwrap()),
    );
    serde_json::from_slice(&stdout).unwrap()
}
