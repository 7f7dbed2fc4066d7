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
/// running in parallel from making it twice. Panics with pip's exit status when the install
/// fails (the tests need the tool).
pub fn python_venv(name: &str, requirements: &[&str], probe: &str) -> PathBuf {
    let dir = target_dir();
    fs::create_dir_all(&dir).expect("the target directory");
    let venv = dir.join(format!("{name}-venv"));
    let bin = venv.join("bin");
    let python = bin.join("python");
    let ready = || {
        Command::new(&python)
            .args(["-c", probe])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if ready() {
        return bin;
    }
    let lock = fs::File::create(dir.join(format!("{name}-venv.lock"))).expect("the venv lock");
    lock.lock().expect("locking the venv");
    if !ready() {
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
        assert!(ready(), "{probe} fails after installing {requirements:?}");
    }
    let _ = lock.unlock();
    bin
}
