//! `cfgupdate render` and `cfgupdate check` through the real binary, on a copy of the fixture
//! repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cfgupdate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// A temporary copy of the fixture repository; the checkout is its `repo` subdirectory.
fn checkout() -> (tempfile::TempDir, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/render/repo");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(&fixture, &repo);
    (dir, repo)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn render_prints_every_object_of_a_target_as_yaml_documents() {
    let (_keep, repo) = checkout();
    let output = cfgupdate(
        &["render", "-C", repo.to_str().unwrap(), "--target", "tanka"],
        Path::new("/"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.matches("---\n").count(), 5, "{text}");
    assert!(
        text.starts_with("---\napiVersion: apps/v1\nkind: Deployment\n"),
        "{text}"
    );
    assert!(text.contains("schedule: 0 3 * * *"), "{text}");
}

#[test]
fn render_of_an_unknown_target_is_invalid_usage() {
    let (_keep, repo) = checkout();
    let output = cfgupdate(&["render", "--target", "nope"], &repo);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("target `nope` is not in cfgupdate.toml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_committed_fixture_yaml_is_current_and_check_says_so() {
    let (_keep, repo) = checkout();
    let output = cfgupdate(&["check"], &repo);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("14 rendered files current"));
}

#[test]
fn check_lists_every_stale_missing_and_extra_file_and_exits_2() {
    let (_keep, repo) = checkout();
    let generated = repo.join("generated");
    fs::write(
        generated.join("single/deployment-default-api.yaml"),
        "kind: Edited\n",
    )
    .unwrap();
    fs::remove_file(generated.join("tanka/service-tanka-api.yaml")).unwrap();
    fs::write(generated.join("arrays/notes.txt"), "hand-written\n").unwrap();
    let output = cfgupdate(&["check"], &repo);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    for expected in [
        "target `single`: generated/single/deployment-default-api.yaml is stale",
        "target `tanka`: generated/tanka/service-tanka-api.yaml is missing",
        "target `arrays`: generated/arrays/notes.txt is not rendered by its target",
    ] {
        assert!(err.contains(expected), "{expected} not in {err}");
    }
    assert!(err.contains("(3 problems)"), "{err}");

    let output = cfgupdate(&["check", "--json"], &repo);
    assert_eq!(output.status.code(), Some(2));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verdict["ok"], false);
    assert_eq!(
        verdict["problems"].as_array().unwrap().len(),
        3,
        "{verdict}"
    );
    assert!(
        verdict["problems"][0]
            .as_str()
            .unwrap()
            .contains("generated/"),
        "{verdict}"
    );
}

#[test]
fn render_write_replaces_the_output_directory_and_removes_stale_files() {
    let (_keep, repo) = checkout();
    let single = repo.join("generated/single");
    fs::write(single.join("stale.yaml"), "kind: Old\n").unwrap();
    fs::write(single.join("deployment-default-api.yaml"), "kind: Edited\n").unwrap();
    fs::remove_dir_all(repo.join("generated/tanka")).unwrap();
    let output = cfgupdate(&["render", "--write"], &repo);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(listing(&single), ["deployment-default-api.yaml"]);
    assert_eq!(listing(&repo.join("generated/tanka")).len(), 5);
    assert_eq!(
        listing(&repo.join("generated")),
        ["arrays", "functions", "single", "tanka"]
    );
    assert!(cfgupdate(&["check"], &repo).status.success());
}

#[test]
fn a_failing_render_writes_nothing() {
    let (_keep, repo) = checkout();
    let before = fs::read(repo.join("generated/single/deployment-default-api.yaml")).unwrap();
    fs::write(repo.join("generated/single/stale.yaml"), "kind: Old\n").unwrap();
    // `tanka` breaks; `single` renders, but must not be written either.
    fs::write(
        repo.join("envs/tanka/main.jsonnet"),
        "{ a: error 'broken on purpose' }\n",
    )
    .unwrap();
    fs::write(
        repo.join("images/staging.json"),
        fs::read_to_string(repo.join("images/staging.json"))
            .unwrap()
            .replace("1.4.0", "1.5.0"),
    )
    .unwrap();
    let output = cfgupdate(&["render", "--write"], &repo);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "target `tanka`: envs/tanka/main.jsonnet:1: runtime error: broken on purpose"
        ),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        fs::read(repo.join("generated/single/deployment-default-api.yaml")).unwrap(),
        before
    );
    assert!(repo.join("generated/single/stale.yaml").exists());
}

#[test]
fn an_import_through_a_symlink_out_of_the_checkout_is_refused() {
    let (keep, repo) = checkout();
    fs::write(
        keep.path().join("secret.libsonnet"),
        "{ password: 'hunter2' }\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        keep.path().join("secret.libsonnet"),
        repo.join("lib/secret.libsonnet"),
    )
    .unwrap();
    fs::write(
        repo.join("envs/single/main.jsonnet"),
        "local s = import 'secret.libsonnet';\n{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: s.password } }\n",
    )
    .unwrap();
    let output = cfgupdate(&["render", "--target", "single"], &repo);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("`lib/secret.libsonnet` leads outside the repository"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));
}

#[test]
fn check_reports_a_target_that_does_not_render() {
    let (_keep, repo) = checkout();
    fs::write(repo.join("envs/arrays/main.jsonnet"), "[1]\n").unwrap();
    let output = cfgupdate(&["check"], &repo);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("target `arrays`: envs/arrays/main.jsonnet: the value at `[0]` is a number"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_reports_a_service_whose_slots_cannot_hold_its_digest_unless_the_wave_pins_by_tag() {
    let (_keep, repo) = checkout();
    let images = repo.join("images/production.json");
    let text = fs::read_to_string(&images).unwrap().replacen(
        "{\n",
        "{\n  \"batch\": { \"name\": \"registry.example.com/team/batch\", \"tag\": \"2.0.1\" },\n",
        1,
    );
    fs::write(&images, text).unwrap();
    let output = cfgupdate(&["check"], &repo);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "wave `production`: the slots of service `batch` in images/production.json hold no whole reference, digest or pinned tag"
        ),
        "{}",
        stderr(&output)
    );

    let pipeline = repo.join("cfgupdate.toml");
    let text = fs::read_to_string(&pipeline).unwrap().replace(
        "targets = [\"functions\"]",
        "targets = [\"functions\"]\npin = \"tag\"",
    );
    fs::write(&pipeline, text).unwrap();
    let output = cfgupdate(&["check"], &repo);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn render_write_through_a_symlinked_parent_out_of_the_checkout_creates_nothing_outside() {
    let (keep, repo) = checkout();
    let pipeline = fs::read_to_string(repo.join("cfgupdate.toml")).unwrap();
    fs::write(
        repo.join("cfgupdate.toml"),
        pipeline.replace(
            "output = \"generated/{target}\"",
            "output = \"out/rendered/{target}\"",
        ),
    )
    .unwrap();
    let elsewhere = keep.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, repo.join("out")).unwrap();
    let output = cfgupdate(&["render", "--write", "--target", "single"], &repo);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("leads outside the repository"), "{err}");
    assert!(
        listing(&elsewhere).is_empty(),
        "written outside the checkout: {:?}",
        listing(&elsewhere)
    );
}
