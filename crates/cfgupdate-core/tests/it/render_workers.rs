//! Independent evaluations on several workers (issue 12): a change, `check` and a render give
//! the same files, the same problems and the same first error with one worker and with four,
//! and the plan hands its evaluations to the evaluator in batches only when it may run more
//! than one at once.

use std::sync::Mutex;

use cfgupdate_core::MemoryRepository;
use cfgupdate_core::RepoPath;
use cfgupdate_core::render::{
    Evaluation, EvaluationError, EvaluationInput, Evaluator, IN_PROCESS, RenderAhead, RenderLimits,
    RevisionFiles, SourceFiles, check_change, check_repository, read_pipeline, render_target,
    render_targets,
};
use cfgupdate_core::{Change, ConfigRepository, FileChange};

/// Targets in the fixture: more than a window of four workers holds.
const TARGETS: usize = 24;

const OLD: &str = "registry.example.com/api:1";
const NEW: &str = "registry.example.com/api:2";

fn name(index: usize) -> String {
    format!("t{index:02}")
}

fn pipeline() -> String {
    let mut text = String::from(
        "[render]\noutput = \"generated/{target}\"\n\n[[wave]]\nname = \"staging\"\nimages = { jsonnet = [\"images/staging.libsonnet\"] }\ntargets = [",
    );
    text.push_str(
        &(0..TARGETS)
            .map(|index| format!("\"{}\"", name(index)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str("]\n");
    for index in 0..TARGETS {
        text.push_str(&format!(
            "\n[target.{0}]\nentrypoint = \"envs/{0}/main.jsonnet\"\n",
            name(index)
        ));
    }
    text
}

const APP: &str = "{\n  deployment(name, namespace, image, replicas):: {\n    apiVersion: 'apps/v1', kind: 'Deployment',\n    metadata: { name: name, namespace: namespace },\n    spec: { replicas: replicas, template: { spec: { containers: [{ name: name, image: image }] } } },\n  },\n  service(name, namespace):: { apiVersion: 'v1', kind: 'Service', metadata: { name: name, namespace: namespace } },\n}\n";

fn images(reference: &str) -> String {
    format!("{{\n  api: '{reference}',  // cfgupdate: api\n}}\n")
}

/// Each target renders a few services, a different number per target, so that evaluations
/// differ in length.
fn main_of(index: usize) -> String {
    format!(
        "local app = import '../../lib/app.libsonnet';\nlocal images = import '../../images/staging.libsonnet';\n\
         std.flattenArrays([[app.deployment('api-%d' % n, '{0}', images.api, n), app.service('api-%d' % n, '{0}')] for n in std.range(1, {1})])\n",
        name(index),
        1 + index % 5
    )
}

fn sources(mains: &[(usize, &str)]) -> Vec<(String, String)> {
    let mut files = vec![
        ("cfgupdate.toml".to_owned(), pipeline()),
        ("lib/app.libsonnet".into(), APP.into()),
        ("images/staging.libsonnet".into(), images(OLD)),
    ];
    for index in 0..TARGETS {
        let text = mains
            .iter()
            .find(|(at, _)| *at == index)
            .map_or_else(|| main_of(index), |(_, text)| (*text).to_owned());
        files.push((format!("envs/{}/main.jsonnet", name(index)), text));
    }
    files
}

/// A repository holding `files` and the YAML rendered from them (for the targets that
/// render).
fn repo_with_yaml(files: &[(String, String)]) -> MemoryRepository {
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
        let Ok(rendered) = render_target(&source, &pipeline, target, &RenderLimits::default())
        else {
            continue;
        };
        for (path, text) in rendered
            .output_files(&render.output_dir(&target.name))
            .unwrap()
        {
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

/// Evaluates in process and records the size of every batch it is handed.
#[derive(Default)]
struct Batches {
    sizes: Mutex<Vec<usize>>,
}

impl Evaluator for Batches {
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError> {
        self.sizes.lock().unwrap().push(1);
        IN_PROCESS.evaluate(files, input, limits)
    }

    fn evaluate_many(
        &self,
        files: &dyn SourceFiles,
        inputs: &[EvaluationInput<'_>],
        limits: &RenderLimits,
    ) -> Vec<Result<Evaluation, EvaluationError>> {
        self.sizes.lock().unwrap().push(inputs.len());
        IN_PROCESS.evaluate_many(files, inputs, limits)
    }

    fn name(&self) -> &'static str {
        "batches"
    }
}

fn limits(workers: usize) -> RenderLimits {
    RenderLimits {
        workers,
        ..RenderLimits::default()
    }
}

fn batches(workers: usize) -> (&'static Batches, RenderLimits) {
    let batches: &'static Batches = Box::leak(Box::default());
    let limits = RenderLimits {
        evaluator: batches,
        workers,
        ..RenderLimits::default()
    };
    (batches, limits)
}

#[test]
fn a_change_regenerates_the_same_files_with_one_and_with_four_workers() {
    let repo = repo_with_yaml(&sources(&[]));
    let tip = repo.tip().unwrap();
    let change = write("images/staging.libsonnet", &images(NEW));
    let one = check_change(&repo, &tip, &change, &limits(1)).unwrap();
    let four = check_change(&repo, &tip, &change, &limits(4)).unwrap();
    assert_eq!(one.affected.len(), TARGETS);
    // Every Deployment's image changes, byte for byte the same.
    let deployments: usize = (0..TARGETS).map(|index| 1 + index % 5).sum();
    assert_eq!(one.files.len(), deployments);
    assert_eq!(one, four);
}

#[test]
fn the_plan_hands_out_batches_only_when_more_than_one_may_run() {
    let repo = repo_with_yaml(&sources(&[]));
    let tip = repo.tip().unwrap();
    let change = write("images/staging.libsonnet", &images(NEW));

    let (one, limits_one) = batches(1);
    let (four, limits_four) = batches(4);
    let by_one = check_change(&repo, &tip, &change, &limits_one).unwrap();
    let by_four = check_change(&repo, &tip, &change, &limits_four).unwrap();
    assert_eq!(by_one, by_four);
    let one = one.sizes.lock().unwrap().clone();
    let four = four.sizes.lock().unwrap().clone();
    assert_eq!(
        one,
        vec![1; TARGETS],
        "one worker: one evaluation at a time"
    );
    // Four workers: windows of sixteen, the same evaluations in all.
    assert_eq!(four, vec![16, TARGETS - 16]);
}

#[test]
fn check_reports_the_same_problems_in_the_same_order_with_one_and_with_four_workers() {
    let files = sources(&[(5, "error 'target five is broken'\n"), (17, "{ a: }\n")]);
    let repo = repo_with_yaml(&files);
    let tip = repo.tip().unwrap();
    let empty = Default::default();
    let source = RevisionFiles::new(&repo, &tip, &empty);
    let one = check_repository(&source, &limits(1)).unwrap();
    let four = check_repository(&source, &limits(4)).unwrap();
    assert_eq!(one.problems, four.problems);
    assert_eq!(one.current_files, four.current_files);
    let problems: Vec<String> = one
        .problems
        .iter()
        .map(|problem| format!("{problem:?}"))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("t05"), "{problems:#?}");
    assert!(problems[1].contains("t17"), "{problems:#?}");
}

#[test]
fn a_change_that_breaks_several_targets_is_refused_naming_the_same_first_one() {
    let repo = repo_with_yaml(&sources(&[]));
    let tip = repo.tip().unwrap();
    // The targets with four services or more (t03, t04, t08, t09, ...) fail.
    let mut change = write(
        "lib/app.libsonnet",
        &APP.replace("replicas: replicas,", "replicas: if replicas >= 4 then error 'too many replicas: %d' % replicas else replicas,"),
    );
    change.files.insert(
        RepoPath::parse("images/staging.libsonnet").unwrap(),
        FileChange::Write(images(NEW).into_bytes()),
    );
    let one = check_change(&repo, &tip, &change, &limits(1)).unwrap_err();
    let four = check_change(&repo, &tip, &change, &limits(4)).unwrap_err();
    assert_eq!(one, four);
    let message = one.to_string();
    assert!(message.contains("t03"), "{message}");
}

#[test]
fn renders_ahead_come_back_in_the_order_asked_whatever_the_workers() {
    let repo = repo_with_yaml(&sources(&[(9, "error 'nine'\n")]));
    let tip = repo.tip().unwrap();
    let empty = Default::default();
    let source = RevisionFiles::new(&repo, &tip, &empty);
    let pipeline = read_pipeline(&source, "here").unwrap();
    let targets: Vec<_> = pipeline.targets.values().rev().collect();
    let streams = |workers: usize| -> Vec<String> {
        RenderAhead::new(
            &source,
            &pipeline,
            targets.iter().copied(),
            &limits(workers),
        )
        .map(|(target, rendered)| match rendered {
            Ok(rendered) => format!("{}\n{}", target.name, rendered.stream()),
            Err(error) => format!("{}: {error}", target.name),
        })
        .collect()
    };
    let one = streams(1);
    assert_eq!(one, streams(4));
    assert_eq!(one, streams(3));
    assert_eq!(
        one,
        render_targets(&source, &pipeline, &targets, &limits(4))
            .into_iter()
            .zip(&targets)
            .map(|(rendered, target)| match rendered {
                Ok(rendered) => format!("{}\n{}", target.name, rendered.stream()),
                Err(error) => format!("{}: {error}", target.name),
            })
            .collect::<Vec<_>>()
    );
    assert!(one[0].starts_with("t23\n"), "{}", one[0]);
    assert!(
        one[TARGETS - 1 - 9].starts_with("t09: "),
        "{}",
        one[TARGETS - 1 - 9]
    );
}

/// Evaluates in process but drops the last result of every batch: a broken evaluator.
struct Forgetful;

impl Evaluator for Forgetful {
    fn evaluate(
        &self,
        files: &dyn SourceFiles,
        input: EvaluationInput<'_>,
        limits: &RenderLimits,
    ) -> Result<Evaluation, EvaluationError> {
        IN_PROCESS.evaluate(files, input, limits)
    }

    fn evaluate_many(
        &self,
        files: &dyn SourceFiles,
        inputs: &[EvaluationInput<'_>],
        limits: &RenderLimits,
    ) -> Vec<Result<Evaluation, EvaluationError>> {
        let mut results = IN_PROCESS.evaluate_many(files, inputs, limits);
        results.pop();
        results
    }

    fn name(&self) -> &'static str {
        "forgetful"
    }
}

static FORGETFUL: Forgetful = Forgetful;

#[test]
fn a_target_an_evaluator_returns_no_result_for_fails_rather_than_being_left_out() {
    let repo = repo_with_yaml(&sources(&[]));
    let tip = repo.tip().unwrap();
    let empty = Default::default();
    let source = RevisionFiles::new(&repo, &tip, &empty);
    let pipeline = read_pipeline(&source, "here").unwrap();
    let walk = |workers: usize| -> Vec<(String, bool)> {
        let limits = RenderLimits {
            evaluator: &FORGETFUL,
            workers,
            ..RenderLimits::default()
        };
        RenderAhead::new(&source, &pipeline, pipeline.targets.values(), &limits)
            .map(|(target, rendered)| (target.name.to_string(), rendered.is_ok()))
            .collect()
    };
    let one = walk(1);
    assert_eq!(one.len(), TARGETS, "{one:?}");
    assert!(one.iter().all(|(_, ok)| !ok), "{one:?}");
    let four = walk(4);
    assert_eq!(four.len(), TARGETS, "{four:?}");
    // Each window of sixteen loses its last.
    assert_eq!(
        four.iter().filter(|(_, ok)| !ok).count(),
        TARGETS.div_ceil(16),
        "{four:?}"
    );
}
