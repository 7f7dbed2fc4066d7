//! Regeneration for automatic commits and the render check, on the fixture repository.

use crate::render_support;

use std::collections::BTreeSet;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::RepoPath;
use cfgupdate_core::render::{RenderCheckError, RenderLimits, check_change, regenerate};
use cfgupdate_core::{Change, FileChange};
use render_support::{files_of, fixture, memory_repo};

const OLD_API: &str = "registry.example.com/team/api:1.4.0@sha256:0b6c5f4a3d2e1f00112233445566778899aabbccddeeff00112233445566778a";
const NEW_API: &str = "registry.example.com/team/api:1.5.0@sha256:9b6c5f4a3d2e1f00112233445566778899aabbccddeeff00112233445566778a";

fn fixture_files() -> Vec<(String, String)> {
    files_of(&fixture("repo"))
}

fn new_staging_images(files: &[(String, String)]) -> Change {
    let (_, staging) = files
        .iter()
        .find(|(path, _)| path == "images/staging.json")
        .unwrap();
    assert!(staging.contains(OLD_API));
    let mut change = Change::default();
    change.files.insert(
        RepoPath::parse("images/staging.json").unwrap(),
        FileChange::Write(staging.replace(OLD_API, NEW_API).into_bytes()),
    );
    change
}

fn names(set: &BTreeSet<cfgupdate_core::TargetName>) -> Vec<String> {
    set.iter().map(ToString::to_string).collect()
}

fn paths(change: &Change) -> Vec<String> {
    change.files.keys().map(ToString::to_string).collect()
}

#[test]
fn an_image_change_affects_exactly_the_targets_that_read_the_file_and_rewrites_their_yaml() {
    let files = fixture_files();
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let change = new_staging_images(&files);
    let regeneration = check_change(&repo, &tip, &change, &RenderLimits::default()).unwrap();
    // `functions` reads only the production images: the staging import beside it is never
    // evaluated, so it is not an input.
    assert_eq!(names(&regeneration.affected), ["arrays", "single", "tanka"]);
    let mut written: Vec<String> = regeneration.files.keys().map(ToString::to_string).collect();
    written.sort();
    assert_eq!(
        written,
        [
            "generated/arrays/deployment-shop-api.yaml",
            "generated/single/deployment-default-api.yaml",
            "generated/tanka/deployment-tanka-api.yaml",
        ]
    );
    for change in regeneration.files.values() {
        let FileChange::Write(text) = change else {
            panic!("{change:?}")
        };
        let text = String::from_utf8(text.clone()).unwrap();
        assert!(text.contains(NEW_API) && !text.contains(OLD_API), "{text}");
    }
    // `regenerate` agrees with the check's regeneration.
    assert_eq!(
        regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap(),
        regeneration
    );
}

#[test]
fn a_slot_placed_on_a_non_image_field_makes_the_render_check_refuse() {
    let mut files = fixture_files();
    for (path, text) in &mut files {
        if path == "envs/single/main.jsonnet" {
            // The image reference also lands in an annotation, which is not an image field.
            *text = text.replace(
                "env={ LOG_LEVEL: 'info' })",
                "env={ LOG_LEVEL: 'info' }) + { metadata+: { annotations: { 'shop.io/built-from': images.api } } }",
            );
        }
    }
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let change = new_staging_images(&files);
    let error = check_change(&repo, &tip, &change, &RenderLimits::default()).unwrap_err();
    let RenderCheckError::NotImageOnly { differences } = &error else {
        panic!("{error}")
    };
    let listed: Vec<String> = differences
        .iter()
        .map(|(target, difference)| format!("{target} {difference}"))
        .collect();
    assert_eq!(
        listed,
        ["single Deployment/default/api: metadata.annotations[\"shop.io/built-from\"]"]
    );
    assert!(
        error.to_string().contains("beyond container images"),
        "{error}"
    );
    // Regeneration alone does not judge.
    assert!(regenerate(&repo, &tip, &change, &RenderLimits::default()).is_ok());
}

#[test]
fn a_change_to_a_file_no_target_reads_regenerates_nothing() {
    let files = fixture_files();
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let mut change = Change::default();
    change.files.insert(
        RepoPath::parse("README.md").unwrap(),
        FileChange::Write(b"hello\n".to_vec()),
    );
    let regeneration = regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
    assert!(regeneration.affected.is_empty() && regeneration.files.is_empty());
}

#[test]
fn a_file_created_where_an_import_was_looked_for_affects_the_target() {
    let files = fixture_files();
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    // `kube/kube.libsonnet` is looked for next to envs/single/main.jsonnet before the jpath.
    let mut change = Change::default();
    change.files.insert(
        RepoPath::parse("envs/single/kube/kube.libsonnet").unwrap(),
        FileChange::Write(b"{ deployment(name, namespace, image, replicas=1, env={}):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name } } }\n".to_vec()),
    );
    let regeneration = regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
    assert_eq!(names(&regeneration.affected), ["single"]);
    let changed = Change {
        files: regeneration.files.clone(),
        ..Change::default()
    };
    assert_eq!(
        paths(&changed),
        [
            "generated/single/configmap-api.yaml",
            "generated/single/deployment-default-api.yaml"
        ]
    );
    assert_eq!(
        regeneration.files
            [&RepoPath::parse("generated/single/deployment-default-api.yaml").unwrap()],
        FileChange::Delete
    );
}

#[test]
fn regeneration_removes_stale_files_from_an_affected_output_directory() {
    let mut files = fixture_files();
    files.push((
        "generated/single/leftover.yaml".into(),
        "kind: Old\n".into(),
    ));
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let change = new_staging_images(&files);
    let regeneration = regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
    assert_eq!(
        regeneration
            .files
            .get(&RepoPath::parse("generated/single/leftover.yaml").unwrap()),
        Some(&FileChange::Delete)
    );
}

#[test]
fn a_change_to_the_pipeline_file_affects_every_target() {
    let files = fixture_files();
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let (_, pipeline) = files
        .iter()
        .find(|(path, _)| path == "cfgupdate.toml")
        .unwrap();
    let mut change = Change::default();
    change.files.insert(
        RepoPath::parse("cfgupdate.toml").unwrap(),
        FileChange::Write(
            pipeline
                .replace("replicas = \"3\"", "replicas = \"5\"")
                .into_bytes(),
        ),
    );
    let regeneration = regenerate(&repo, &tip, &change, &RenderLimits::default()).unwrap();
    assert_eq!(regeneration.affected.len(), 4);
    assert_eq!(
        regeneration
            .files
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["generated/arrays/deployment-shop-api.yaml"]
    );
    let error = check_change(&repo, &tip, &change, &RenderLimits::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Deployment/shop/api: spec.replicas"),
        "{error}"
    );
}
