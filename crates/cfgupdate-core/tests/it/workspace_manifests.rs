//! The workspace's manifests keep the core's test doubles out of what is built for use.
//!
//! Cargo turns on, in `cargo build --workspace` and `cargo doc --workspace`, every feature that
//! any member's normal dependencies ask for, directly, through a renamed dependency, or through
//! a feature of their own that is on by default. A member that turned on the core's `testing`
//! that way would put the test doubles and mockall into those builds, and into the
//! documentation's type-checking, though no user of them asked: the test doubles are for tests
//! and benches, which take them as dev-dependencies. Cargo's own resolution is asked
//! (`cargo tree`), so that every way of asking is seen.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::render_support::workspace;

/// The features of `package` on in a build of the whole workspace at `root` that compiles no
/// test, bench or example (`cargo tree -e normal,build`, offline).
fn features_outside_tests(root: &Path, package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "tree",
            "--workspace",
            "--offline",
            "--edges",
            "normal,build",
        ])
        .args(["--invert", package, "--depth", "0", "--format", "{f}"])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .split(',')
        .filter(|feature| !feature.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_member_turns_on_the_core_s_test_doubles_outside_its_tests() {
    let features = features_outside_tests(&workspace(), "cfgupdate-core");
    // The check reads real output: the default features are always there.
    assert!(features.iter().any(|f| f == "render"), "{features:?}");
    assert!(
        !features.iter().any(|f| f == "testing"),
        "a member's normal dependencies turn on cfgupdate-core's `testing` (features on: \
         {features:?}); take the core with `testing` as a dev-dependency \
         (`cargo tree --workspace -e normal,build,features -i cfgupdate-core` shows who asks)"
    );
}

/// The check itself sees the mistake, in each way a manifest can make it, and not in a
/// dev-dependency: a scratch workspace of a stand-in core and a member that uses it.
#[test]
fn a_member_asking_for_the_core_s_testing_is_found_however_it_asks() {
    let cases = [
        (
            "[dependencies]\ncfgupdate-core = { path = \"../core\", features = [\"testing\"] }\n",
            true,
        ),
        (
            "[dependencies]\ncore = { package = \"cfgupdate-core\", path = \"../core\", \
             features = [\"testing\"] }\n",
            true,
        ),
        (
            "[features]\ndefault = [\"doubles\"]\ndoubles = [\"cfgupdate-core/testing\"]\n\n\
             [dependencies]\ncfgupdate-core = { path = \"../core\" }\n",
            true,
        ),
        (
            "[dependencies]\ncfgupdate-core = { path = \"../core\" }\n\n[dev-dependencies]\n\
             cfgupdate-core = { path = \"../core\", features = [\"testing\"] }\n",
            false,
        ),
    ];
    for (dependencies, asks) in cases {
        let root = tempfile::tempdir().expect("a temporary directory");
        let write = |path: &str, text: &str| {
            let path = root.path().join(path);
            fs::create_dir_all(path.parent().expect("a parent")).expect("the directory");
            fs::write(path, text).expect("the file");
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"core\", \"member\"]\nresolver = \"3\"\n",
        );
        write(
            "core/Cargo.toml",
            "[package]\nname = \"cfgupdate-core\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [features]\ndefault = [\"render\"]\nrender = []\ntesting = []\n",
        );
        write("core/src/lib.rs", "");
        write(
            "member/Cargo.toml",
            &format!(
                "[package]\nname = \"member\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 {dependencies}"
            ),
        );
        write("member/src/lib.rs", "");
        let features = features_outside_tests(root.path(), "cfgupdate-core");
        assert_eq!(
            features.iter().any(|f| f == "testing"),
            asks,
            "{dependencies}\nfeatures on: {features:?}"
        );
    }
}
