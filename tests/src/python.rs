//! Python tools from PyPI for tests (reference implementations and validators), each in a
//! virtual environment of its own under the target directory, made on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target directory: `$CARGO_TARGET_DIR`, else `target/` beside the workspace's
/// `Cargo.lock`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    while !dir.join("Cargo.lock").exists() {
        if !dir.pop() {
            return PathBuf::from("target");
        }
    }
    dir.join("target")
}

/// The script that makes the tools' environments: the one list of them and the one way they
/// are made (`tests/python-tools.py`).
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python-tools.py")
}

/// The `bin/` directory of the virtual environment of the Python tool `name`, one of those
/// `tests/python-tools.py` lists (`gojsonnet`, `schemathesis`, `kubernetes-validate`,
/// `jsonschema`), made on first use.
///
/// `scripts/test.sh` makes them all in the background while the workspace compiles; a test
/// that comes first makes its own, and one that comes while it is being made waits for it.
/// Panics with the script's output when pip fails (the tests need the tool).
pub fn python_venv(name: &str) -> PathBuf {
    let dir = target_dir();
    let bin = venv(&dir, name).join("bin");
    if made_by_this_script(&dir, name) {
        return bin;
    }
    let output = Command::new("python3")
        .arg(script())
        .arg(&dir)
        .arg(name)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "making the Python tool {name} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    bin
}

/// The environment of `name` under `target` (the script's `venv_dir`).
fn venv(target: &Path, name: &str) -> PathBuf {
    target.join(format!("{name}-venv"))
}

/// Whether the environment of `name` under `target` has the marker the script writes once pip
/// has finished and the tool's probe passed, written after the script last changed: then it
/// was made from the script's list as it is, and starting Python to ask again (about 0.3 s of
/// CPU through pyenv's shim, for each of the tests that use a tool) is skipped. An older
/// marker, or none, is left to the script.
fn made_by_this_script(target: &Path, name: &str) -> bool {
    // The script's MARKER.
    let marker = venv(target, name).join("cfgupdate-tests-installed");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|meta| meta.modified());
    match (modified(&marker), modified(&script())) {
        (Ok(made), Ok(changed)) => made >= changed,
        _ => false,
    }
}

/// Whether the environment of `name` under `target` is ready, by the script's rule.
#[cfg(all(test, feature = "servers"))]
fn is_ready(target: &Path, name: &str) -> bool {
    Command::new("python3")
        .arg(script())
        .arg(target)
        .args(["--check", name])
        .status()
        .expect("python3 runs")
        .success()
}

#[cfg(all(test, feature = "servers"))]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in environment of `jsonschema` whose `python` answers every probe (as a
    /// half-installed one does once pip has unpacked the package, before its scripts exist).
    fn probe_passing_venv() -> tempfile::TempDir {
        let target = tempfile::tempdir().expect("a temporary directory");
        let bin = target.path().join("jsonschema-venv/bin");
        fs::create_dir_all(&bin).expect("bin/");
        let python = bin.join("python");
        fs::write(&python, "#!/bin/sh\nexit 0\n").expect("a stand-in python");
        fs::set_permissions(&python, fs::Permissions::from_mode(0o755)).expect("chmod");
        target
    }

    #[test]
    fn an_environment_pip_has_not_finished_is_not_ready_even_when_the_probe_passes() {
        // CI failed on this: one test used the environment while another's pip was still
        // writing its console scripts (`kubernetes-validate`: No such file or directory).
        let target = probe_passing_venv();
        assert!(!is_ready(target.path(), "jsonschema"));
    }

    #[test]
    fn an_environment_is_ready_once_pip_finished_with_the_same_requirements() {
        let target = probe_passing_venv();
        let marker = target
            .path()
            .join("jsonschema-venv/cfgupdate-tests-installed");
        fs::write(&marker, "jsonschema==4.*").expect("the marker");
        assert!(is_ready(target.path(), "jsonschema"));
        fs::write(&marker, "jsonschema==3.*").expect("the marker");
        assert!(!is_ready(target.path(), "jsonschema"));
    }

    #[test]
    fn a_marker_newer_than_the_script_is_taken_without_python_and_an_older_one_is_not() {
        use std::time::{Duration, SystemTime};
        // The stand-in's `python` answers every probe; the marker's text is not the list's.
        let target = probe_passing_venv();
        assert!(
            !made_by_this_script(target.path(), "jsonschema"),
            "no marker yet"
        );
        let marker = target
            .path()
            .join("jsonschema-venv/cfgupdate-tests-installed");
        fs::write(&marker, "another list").expect("the marker");
        let changed = fs::metadata(script())
            .and_then(|meta| meta.modified())
            .expect("the script's time");
        let set = |at: SystemTime| {
            fs::File::options()
                .write(true)
                .open(&marker)
                .and_then(|file| file.set_modified(at))
                .expect("the marker's time");
        };
        set(changed + Duration::from_secs(1));
        assert!(made_by_this_script(target.path(), "jsonschema"));
        set(changed - Duration::from_secs(1));
        assert!(!made_by_this_script(target.path(), "jsonschema"));
        // The script itself reads the text: a marker from another list is not ready.
        assert!(!is_ready(target.path(), "jsonschema"));
    }

    #[test]
    fn an_unknown_tool_is_refused_with_the_known_ones() {
        let target = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new("python3")
            .arg(script())
            .arg(target.path())
            .arg("kubeconform")
            .output()
            .expect("python3 runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("unknown tool 'kubeconform'") && stderr.contains("schemathesis"),
            "{stderr}"
        );
    }
}
