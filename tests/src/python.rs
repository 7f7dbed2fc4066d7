//! Python tools from PyPI for tests (reference implementations and validators), each in a
//! virtual environment of its own under the target directory, made on first use.

use std::fs;
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

/// The `bin/` directory of a virtual environment named `name` that has `requirements`
/// installed (pip requirement strings), checked by running `probe` with its Python.
///
/// Made with `python3 -m venv` and `pip install` the first time; a file lock keeps tests
/// running in parallel from making it twice, and a marker written after pip has finished keeps
/// them from using one another's half-made environment (pip makes a package importable before
/// it writes the package's console scripts). Panics with pip's exit status when the install
/// fails (the tests need the tool).
pub fn python_venv(name: &str, requirements: &[&str], probe: &str) -> PathBuf {
    let dir = target_dir();
    fs::create_dir_all(&dir).expect("the target directory");
    let venv = dir.join(format!("{name}-venv"));
    let bin = venv.join("bin");
    let python = bin.join("python");
    if ready(&venv, requirements, probe) {
        return bin;
    }
    let lock = fs::File::create(dir.join(format!("{name}-venv.lock"))).expect("the venv lock");
    lock.lock().expect("locking the venv");
    if !ready(&venv, requirements, probe) {
        let _ = fs::remove_dir_all(&venv);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install {requirements:?} failed");
        fs::write(marker(&venv), marker_text(requirements)).expect("the venv's marker");
        assert!(
            ready(&venv, requirements, probe),
            "{probe} fails after installing {requirements:?}"
        );
    }
    let _ = lock.unlock();
    bin
}

/// The file written into a virtual environment once pip has installed everything in it.
fn marker(venv: &Path) -> PathBuf {
    venv.join("cfgupdate-tests-installed")
}

fn marker_text(requirements: &[&str]) -> String {
    requirements.join("\n")
}

/// Whether `venv` is complete: pip finished installing exactly `requirements` (the marker),
/// and `probe` runs.
fn ready(venv: &Path, requirements: &[&str], probe: &str) -> bool {
    fs::read_to_string(marker(venv)).is_ok_and(|text| text == marker_text(requirements))
        && Command::new(venv.join("bin/python"))
            .args(["-c", probe])
            .output()
            .is_ok_and(|out| out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in environment whose `python` answers every probe (as a half-installed one does
    /// once pip has unpacked the package, before its scripts exist).
    fn probe_passing_venv() -> tempfile::TempDir {
        let venv = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir_all(venv.path().join("bin")).expect("bin/");
        let python = venv.path().join("bin/python");
        fs::write(&python, "#!/bin/sh\nexit 0\n").expect("a stand-in python");
        fs::set_permissions(&python, fs::Permissions::from_mode(0o755)).expect("chmod");
        venv
    }

    #[test]
    fn an_environment_pip_has_not_finished_is_not_ready_even_when_the_probe_passes() {
        // CI failed on this: one test used the environment while another's pip was still
        // writing its console scripts (`kubernetes-validate`: No such file or directory).
        let venv = probe_passing_venv();
        assert!(!ready(venv.path(), &["tool==1.*"], "import tool"));
    }

    #[test]
    fn an_environment_is_ready_once_pip_finished_with_the_same_requirements() {
        let venv = probe_passing_venv();
        fs::write(marker(venv.path()), marker_text(&["tool==1.*"])).expect("the marker");
        assert!(ready(venv.path(), &["tool==1.*"], "import tool"));
        assert!(!ready(venv.path(), &["tool==2.*"], "import tool"));
    }
}
