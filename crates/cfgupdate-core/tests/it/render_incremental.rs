//! A change costs what it changes (issue 12): the targets that cannot read a changed file are
//! not evaluated, each affected target is evaluated once when its committed YAML is current,
//! and a stale or wrong committed YAML never stands in for the render before the change.
//! Evaluations are counted through the core's evaluator port.

use std::sync::Mutex;

use cfgupdate_core::MemoryRepository;
use cfgupdate_core::render::{
    Evaluation, EvaluationError, EvaluationInput, Evaluator, IN_PROCESS, RenderCheckError,
    RenderLimits, RevisionFiles, SourceFiles, WrittenImage, check_change, check_wave_write,
    read_pipeline, regenerate, render_target,
};
use cfgupdate_core::slots::WaveFiles;
use cfgupdate_core::{Change, ConfigRepository, FileChange};
use cfgupdate_core::{ImageRef, RepoPath, ServiceName};

/// Evaluates in process and records every entrypoint it evaluates.
#[derive(Default)]
struct Counting {
    evaluated: Mutex<Vec<String>>,
}

impl Evaluator for Counting {
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError> {
        self.evaluated
            .lock()
            .unwrap()
            .push(input.entrypoint.to_string());
        IN_PROCESS.evaluate(files, input, limits)
    }

    fn name(&self) -> &'static str {
        "counting"
    }
}

impl Counting {
    /// The targets evaluated, by the directory of their entrypoint, sorted, with repeats.
    fn targets(&self) -> Vec<String> {
        let mut targets: Vec<String> = self
            .evaluated
            .lock()
            .unwrap()
            .iter()
            .map(|path| {
                path.trim_start_matches("envs/")
                    .trim_end_matches("/main.jsonnet")
                    .to_owned()
            })
            .collect();
        targets.sort();
        targets
    }
}

fn counted() -> (&'static Counting, RenderLimits) {
    let counting: &'static Counting = Box::leak(Box::default());
    let limits = RenderLimits {
        evaluator: counting,
        ..RenderLimits::default()
    };
    (counting, limits)
}

const PIPELINE: &str = r#"[render]
output = "generated/{target}"

[[wave]]
name = "staging"
images = { jsonnet = ["images/staging.libsonnet"] }
targets = ["staging-eu", "staging-us"]

[[wave]]
name = "production"
images = { jsonnet = ["images/production.libsonnet"] }
targets = ["prod-eu", "prod-us"]

[target.staging-eu]
entrypoint = "envs/staging-eu/main.jsonnet"

[target.staging-us]
entrypoint = "envs/staging-us/main.jsonnet"

[target.prod-eu]
entrypoint = "envs/prod-eu/main.jsonnet"

[target.prod-us]
entrypoint = "envs/prod-us/main.jsonnet"
"#;

const APP: &str = "{\n  deployment(name, namespace, image):: {\n    apiVersion: 'apps/v1', kind: 'Deployment',\n    metadata: { name: name, namespace: namespace, labels: { team: 'shop' } },\n    spec: { replicas: 2, template: { spec: { containers: [{ name: name, image: image }] } } },\n  },\n}\n";

const OLD: &str = "registry.example.com/api:1";
const NEW: &str = "registry.example.com/api:2";

fn images(reference: &str) -> String {
    format!("{{\n  api: '{reference}',  // cfgupdate: api\n}}\n")
}

fn main_of(env: &str, wave_file: &str) -> String {
    format!(
        "local app = import '../../lib/app.libsonnet';\nlocal images = import '../../images/{wave_file}.libsonnet';\n[app.deployment('api', '{env}', images.api)]\n"
    )
}

/// The source files, the entrypoints overridden by `mains`.
fn sources(mains: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut files = vec![
        ("cfgupdate.toml".to_owned(), PIPELINE.to_owned()),
        ("lib/app.libsonnet".into(), APP.into()),
        ("images/staging.libsonnet".into(), images(OLD)),
        ("images/production.libsonnet".into(), images(OLD)),
    ];
    for (env, wave_file) in [
        ("staging-eu", "staging"),
        ("staging-us", "staging"),
        ("prod-eu", "production"),
        ("prod-us", "production"),
    ] {
        let path = format!("envs/{env}/main.jsonnet");
        let text = mains
            .iter()
            .find(|(p, _)| *p == path)
            .map_or_else(|| main_of(env, wave_file), |(_, text)| (*text).to_owned());
        files.push((path, text));
    }
    files
}

/// A repository holding `files` and the YAML rendered from them, each YAML file passed through
/// `edit_yaml` (to make it stale).
fn repo_with_yaml(
    files: &[(String, String)],
    edit_yaml: impl Fn(&str, String) -> String,
) -> MemoryRepository {
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let mut bare = MemoryRepository::new(&refs);
    let tip = bare.refresh().unwrap();
    let empty = Default::default();
    let source = RevisionFiles::new(&bare, &tip, &empty);
    let pipeline = read_pipeline(&source, "here").unwrap();
    let render = pipeline.render.as_ref().unwrap();
    let mut all = files.to_vec();
    for target in pipeline.targets.values() {
        let rendered = render_target(&source, &pipeline, target, &RenderLimits::default()).unwrap();
        for (path, text) in rendered
            .output_files(&render.output_dir(&target.name))
            .unwrap()
        {
            let text = edit_yaml(path.as_str(), text);
            all.push((path.to_string(), text));
        }
    }
    let refs: Vec<(&str, &str)> = all.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let mut repo = MemoryRepository::new(&refs);
    repo.refresh().unwrap();
    repo
}

fn write(path: &str, text: &str) -> Change {
    let mut change = Change::default();
    change.files.insert(
        RepoPath::parse(path).unwrap(),
        FileChange::Write(text.as_bytes().to_vec()),
    );
    change
}

fn written_paths(files: &std::collections::BTreeMap<RepoPath, FileChange>) -> Vec<String> {
    files.keys().map(ToString::to_string).collect()
}

fn text_of(files: &std::collections::BTreeMap<RepoPath, FileChange>, path: &str) -> String {
    match &files[&RepoPath::parse(path).unwrap()] {
        FileChange::Write(bytes) => String::from_utf8(bytes.clone()).unwrap(),
        FileChange::Delete => panic!("{path} is deleted"),
    }
}

const EU_YAML: &str = "generated/staging-eu/deployment-staging-eu-api.yaml";
const US_YAML: &str = "generated/staging-us/deployment-staging-us-api.yaml";

#[test]
fn targets_that_do_not_import_the_changed_file_are_not_evaluated() {
    let repo = repo_with_yaml(&sources(&[]), |_, text| text);
    let tip = repo.tip().unwrap();
    let change = write("images/staging.libsonnet", &images(NEW));

    let (counting, limits) = counted();
    let regeneration = check_change(&repo, &tip, &change, &limits).unwrap();
    // Once each, after the change: the committed YAML is the render before it.
    assert_eq!(counting.targets(), ["staging-eu", "staging-us"]);
    assert_eq!(written_paths(&regeneration.files), [EU_YAML, US_YAML]);
    assert!(text_of(&regeneration.files, EU_YAML).contains(NEW));

    let (counting, limits) = counted();
    let regeneration = regenerate(&repo, &tip, &change, &limits).unwrap();
    assert_eq!(counting.targets(), ["staging-eu", "staging-us"]);
    assert_eq!(
        regeneration
            .affected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["staging-eu", "staging-us"]
    );
}

#[test]
fn a_wave_write_evaluates_the_wave_and_nothing_the_change_cannot_reach() {
    let repo = repo_with_yaml(&sources(&[]), |_, text| text);
    let tip = repo.tip().unwrap();
    let change = write("images/staging.libsonnet", &images(NEW));
    let empty = Default::default();
    let pipeline = read_pipeline(&RevisionFiles::new(&repo, &tip, &empty), "here").unwrap();
    let wave = &pipeline.waves[0];
    let written = [WrittenImage {
        service: ServiceName::parse("api").unwrap(),
        old: Some(ImageRef::parse(OLD).unwrap()),
        new: ImageRef::parse(NEW).unwrap(),
        old_kept_by: None,
    }];
    let wave_files: WaveFiles = [(
        RepoPath::parse("images/staging.libsonnet").unwrap(),
        Some(images(NEW)),
    )]
    .into_iter()
    .collect();

    let (counting, limits) = counted();
    let checked =
        check_wave_write(&repo, &tip, &change, &limits, wave, &written, &wave_files).unwrap();
    assert_eq!(counting.targets(), ["staging-eu", "staging-us"]);
    assert_eq!(
        written_paths(&checked.regeneration.files),
        [EU_YAML, US_YAML]
    );
    assert!(checked.notes.is_empty(), "{:?}", checked.notes);

    // The same write into production's file reaches production's targets alone.
    let change = write("images/production.libsonnet", &images(NEW));
    let wave = &pipeline.waves[1];
    let wave_files: WaveFiles = [(
        RepoPath::parse("images/production.libsonnet").unwrap(),
        Some(images(NEW)),
    )]
    .into_iter()
    .collect();
    let (counting, limits) = counted();
    check_wave_write(&repo, &tip, &change, &limits, wave, &written, &wave_files).unwrap();
    assert_eq!(counting.targets(), ["prod-eu", "prod-us"]);
}

#[test]
fn a_stale_committed_yaml_is_told_from_the_render_before_the_change() {
    // staging-eu's committed YAML says one replica, its Jsonnet two: a person changed the
    // Jsonnet without rendering. The image write is still only an image update of the
    // revision, so it passes, and the regenerated file is the whole current render.
    let repo = repo_with_yaml(&sources(&[]), |path, text| {
        if path == EU_YAML {
            text.replace("replicas: 2", "replicas: 1")
        } else {
            text
        }
    });
    let tip = repo.tip().unwrap();
    let change = write("images/staging.libsonnet", &images(NEW));
    let (counting, limits) = counted();
    let regeneration = check_change(&repo, &tip, &change, &limits).unwrap();
    // The stale target is evaluated at the revision too: its YAML could not stand for it.
    assert_eq!(
        counting.targets(),
        ["staging-eu", "staging-eu", "staging-us"]
    );
    let eu = text_of(&regeneration.files, EU_YAML);
    assert!(eu.contains("replicas: 2") && eu.contains(NEW), "{eu}");
}

#[test]
fn a_stale_committed_yaml_never_hides_a_change_beyond_images_nor_adds_one() {
    // staging-eu's committed YAML is stale in its label; the change is a wrong edit of the
    // replicas. It is refused for the replicas, in every target, and the stale label, which
    // the change does not touch, is not blamed on it.
    let repo = repo_with_yaml(&sources(&[]), |path, text| {
        if path == EU_YAML {
            text.replace("team: shop", "team: old")
        } else {
            text
        }
    });
    let tip = repo.tip().unwrap();
    let change = write(
        "lib/app.libsonnet",
        &APP.replace("replicas: 2", "replicas: 3"),
    );
    let (counting, limits) = counted();
    let error = check_change(&repo, &tip, &change, &limits).unwrap_err();
    let RenderCheckError::NotImageOnly { differences } = &error else {
        panic!("{error}")
    };
    let found: Vec<(String, String)> = differences
        .iter()
        .map(|(target, difference)| (target.to_string(), difference.path.clone()))
        .collect();
    let replicas = |target: &str| (target.to_owned(), "spec.replicas".to_owned());
    assert_eq!(
        found,
        [
            replicas("prod-eu"),
            replicas("prod-us"),
            replicas("staging-eu"),
            replicas("staging-us")
        ],
        "{error}"
    );
    // Every target reads the library: each is evaluated after the change and, its YAML
    // differing in more than images, at the revision too.
    assert_eq!(counting.targets().len(), 8);
}

#[test]
fn a_committed_yaml_differing_in_more_than_images_is_checked_against_the_revision() {
    // The committed YAML is current, but the change is a wrong edit: the YAML cannot stand for
    // the render before it, the revision is evaluated, and the edit is refused by name.
    let repo = repo_with_yaml(&sources(&[]), |_, text| text);
    let tip = repo.tip().unwrap();
    let sneaky = format!("{{\n  api: '{NEW}',  // cfgupdate: api\n}}\n");
    let mut change = write("images/staging.libsonnet", &sneaky);
    change.files.insert(
        RepoPath::parse("lib/app.libsonnet").unwrap(),
        FileChange::Write(APP.replace("team: 'shop'", "team: 'other'").into_bytes()),
    );
    let error = check_change(&repo, &tip, &change, &RenderLimits::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("Deployment/staging-eu/api: metadata.labels.team"),
        "{message}"
    );
    let RenderCheckError::NotImageOnly { differences } = &error else {
        panic!("{message}")
    };
    assert_eq!(differences.len(), 4, "{message}");
    assert!(
        differences
            .iter()
            .all(|(_, difference)| difference.path == "metadata.labels.team"),
        "{message}"
    );
}

#[test]
fn a_target_whose_imports_cannot_be_worked_out_is_evaluated_and_left_alone_if_unaffected() {
    // prod-us names its image file with a verbatim string: the import graph cannot follow
    // it, so prod-us is evaluated for every change; it reads none of staging's files, so the
    // change does not affect it.
    let verbatim = "local app = import '../../lib/app.libsonnet';\nlocal images = import @'../../images/production.libsonnet';\n[app.deployment('api', 'prod-us', images.api)]\n";
    let repo = repo_with_yaml(
        &sources(&[("envs/prod-us/main.jsonnet", verbatim)]),
        |_, text| text,
    );
    let tip = repo.tip().unwrap();
    let change = write("images/staging.libsonnet", &images(NEW));
    let (counting, limits) = counted();
    let regeneration = check_change(&repo, &tip, &change, &limits).unwrap();
    assert_eq!(counting.targets(), ["prod-us", "staging-eu", "staging-us"]);
    assert_eq!(
        regeneration
            .affected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["staging-eu", "staging-us"]
    );
    assert_eq!(written_paths(&regeneration.files), [EU_YAML, US_YAML]);
}

#[test]
fn a_new_file_on_an_import_search_path_affects_the_targets_that_looked_for_it() {
    // `import 'app.libsonnet'` from envs/x/ looks in envs/x/ first: creating a file there
    // changes what the target imports, though the target never read it before.
    let near = "local app = import 'app.libsonnet';\nlocal images = import '../../images/production.libsonnet';\n[app.deployment('api', 'prod-eu', images.api)]\n";
    let pipeline = PIPELINE.replace(
        "output = \"generated/{target}\"",
        "output = \"generated/{target}\"\njpath = [\"lib\"]",
    );
    let mut files = sources(&[("envs/prod-eu/main.jsonnet", near)]);
    files[0].1 = pipeline;
    let repo = repo_with_yaml(&files, |_, text| text);
    let tip = repo.tip().unwrap();
    let change = write(
        "envs/prod-eu/app.libsonnet",
        &APP.replace("team: 'shop'", "team: 'local'"),
    );
    let (counting, limits) = counted();
    let regeneration = regenerate(&repo, &tip, &change, &limits).unwrap();
    assert_eq!(counting.targets(), ["prod-eu"]);
    let yaml = text_of(
        &regeneration.files,
        "generated/prod-eu/deployment-prod-eu-api.yaml",
    );
    assert!(yaml.contains("team: local"), "{yaml}");
}
