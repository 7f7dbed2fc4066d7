//! The workspace's manifests keep the core's test doubles out of what is built for use.
//!
//! Cargo turns on, in `cargo build --workspace` and `cargo doc --workspace`, every feature that
//! any member's normal dependencies ask for. A member that depended on the core with its
//! `testing` feature as a normal dependency would put the test doubles and mockall into those
//! builds, and into the documentation's type-checking, though no user of them asked: the test
//! doubles are for tests and benches, which take them as dev-dependencies.

use std::fs;
use std::path::Path;

use crate::render_support::workspace;

/// The workspace's members, as the root manifest lists them.
fn members(root: &Path) -> Vec<String> {
    let text = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["workspace"]["members"]
        .as_array()
        .expect("the root manifest lists the workspace's members")
        .iter()
        .map(|member| member.as_str().unwrap().to_owned())
        .collect()
}

/// The features a dependency table asks of `cfgupdate-core`, if it names the core.
fn core_features(dependencies: Option<&toml::Value>) -> Vec<String> {
    let Some(core) = dependencies.and_then(|table| table.get("cfgupdate-core")) else {
        return Vec::new();
    };
    core.get("features")
        .and_then(toml::Value::as_array)
        .map(|features| {
            features
                .iter()
                .map(|feature| feature.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The problems of one member's manifest: each normal dependency on the core with `testing`.
fn testing_in_normal_dependencies(member: &str, manifest: &toml::Table) -> Vec<String> {
    let mut tables = vec![("[dependencies]".to_owned(), manifest.get("dependencies"))];
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (platform, table) in targets {
            tables.push((
                format!("[target.{platform}.dependencies]"),
                table.get("dependencies"),
            ));
        }
    }
    tables
        .into_iter()
        .filter(|(_, table)| core_features(*table).iter().any(|f| f == "testing"))
        .map(|(section, _)| {
            format!("{member}/Cargo.toml: cfgupdate-core with `testing` in {section}")
        })
        .collect()
}

#[test]
fn no_member_turns_on_the_core_s_test_doubles_outside_its_tests() {
    let root = workspace();
    let mut problems = Vec::new();
    let members = members(&root);
    assert!(members.len() >= 5, "members: {members:?}");
    for member in &members {
        let text = fs::read_to_string(root.join(member).join("Cargo.toml")).unwrap();
        let manifest: toml::Table = toml::from_str(&text).unwrap();
        problems.extend(testing_in_normal_dependencies(member, &manifest));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself sees the mistake, in either place it can be made.
#[test]
fn a_normal_dependency_on_the_core_with_testing_is_found() {
    for text in [
        "[dependencies]\ncfgupdate-core = { workspace = true, features = [\"testing\"] }\n",
        "[target.'cfg(unix)'.dependencies]\ncfgupdate-core = { path = \"x\", features = [\"render\", \"testing\"] }\n",
    ] {
        let manifest: toml::Table = toml::from_str(text).unwrap();
        assert_eq!(
            testing_in_normal_dependencies("m", &manifest).len(),
            1,
            "{text}"
        );
    }
    let dev = "[dev-dependencies]\ncfgupdate-core = { path = \"x\", features = [\"testing\"] }\n";
    let manifest: toml::Table = toml::from_str(dev).unwrap();
    assert!(testing_in_normal_dependencies("m", &manifest).is_empty());
}
