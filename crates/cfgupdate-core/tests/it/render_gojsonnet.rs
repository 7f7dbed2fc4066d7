//! cfgupdate's renders against go-jsonnet's, object for object, on a fixture with imports,
//! library paths, ext vars, TLAs (a function entrypoint), arrays, `kind: List` and Tanka-style
//! nesting.

use crate::render_support;

use std::collections::BTreeMap;

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::extract_objects;
use cfgupdate_core::render::yaml_files;
use cfgupdate_core::render::{RenderLimits, RevisionFiles, read_pipeline, render_target};
use render_support::{files_of, fixture, gojsonnet_values, jpath_of, memory_repo};

#[test]
fn every_target_renders_the_objects_go_jsonnet_renders_and_the_same_yaml() {
    let root = fixture("repo");
    let repo = memory_repo(&files_of(&root));
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let files = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&files, "in the fixture").unwrap();
    let jpath = jpath_of(&pipeline);
    let targets = pipeline
        .targets
        .iter()
        .map(|(name, target)| (name.to_string(), target.clone()))
        .collect();
    let reference = gojsonnet_values(&root, &jpath, &targets);
    assert_eq!(reference.len(), 4);

    let mut kinds = BTreeMap::new();
    for (name, target) in &pipeline.targets {
        let ours = render_target(&files, &pipeline, target, &RenderLimits::default()).unwrap();
        let theirs = extract_objects(reference[name.as_str()].clone()).unwrap();
        assert_eq!(ours.objects.len(), theirs.len(), "target {name}");
        for (mine, go) in ours.objects.iter().zip(&theirs) {
            assert_eq!(mine.id(), go.id(), "target {name}");
            assert_eq!(mine.value, go.value, "target {name}, object {}", go.id());
            *kinds.entry(go.kind.clone()).or_insert(0) += 1;
        }
        assert_eq!(ours.files, yaml_files(&theirs).unwrap(), "target {name}");
        // The YAML reads back as exactly go-jsonnet's objects.
        for (file, go) in ours.file_names.iter().zip(&theirs) {
            let back: serde_json::Value = serde_saphyr::from_str(&ours.files[file]).unwrap();
            assert_eq!(back, go.value, "{file}");
        }
    }
    // The fixture exercises every shape of the extraction rule.
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "CronJob",
        "ClusterRole",
    ] {
        assert!(kinds.contains_key(kind), "{kind} missing from {kinds:?}");
    }
}

/// go-jsonnet turns a number into text with 17 significant digits, jrsonnet with the fewest
/// digits that read back the same: cfgupdate's standard library writes go-jsonnet's text.
/// The `+` operator is jrsonnet's own and still writes jrsonnet's (docs/rendering.md).
#[test]
fn a_fraction_turned_into_text_by_the_standard_library_is_go_jsonnets_text() {
    let dir = tempfile::tempdir().unwrap();
    let main = "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { text: std.toString(2 / 3), concat: '' + 2 / 3 }, number: 2 / 3 }\n";
    std::fs::write(dir.path().join("main.jsonnet"), main).unwrap();
    std::fs::write(
        dir.path().join("cfgupdate.toml"),
        "[[wave]]\nname = \"w\"\nimages = \"i.json\"\ntargets = [\"t\"]\n\n[target.t]\nentrypoint = \"main.jsonnet\"\n",
    )
    .unwrap();
    let repo = memory_repo(&files_of(dir.path()));
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let files = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&files, "here").unwrap();
    let target = pipeline.targets.values().next().unwrap();
    let ours = render_target(&files, &pipeline, target, &RenderLimits::default()).unwrap();
    let targets = BTreeMap::from([("t".to_owned(), target.clone())]);
    let theirs = &gojsonnet_values(dir.path(), &[], &targets)["t"];
    assert_eq!(ours.objects[0].value["number"], theirs["number"]);
    assert_eq!(ours.objects[0].value["data"]["text"], "0.66666666666666663");
    assert_eq!(theirs["data"]["text"], "0.66666666666666663");
    assert_eq!(
        ours.objects[0].value["data"]["concat"],
        "0.6666666666666666"
    );
    assert_eq!(theirs["data"]["concat"], "0.66666666666666663");
}
