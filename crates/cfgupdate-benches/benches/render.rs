//! Renders every target of `tests/fixtures/render/bench` (4 targets, 244 objects) with
//! cfgupdate (jrsonnet, object extraction and YAML) and evaluates the same targets with
//! go-jsonnet (PyPI `gojsonnet`, in-process in Python, evaluation only), in one run, and
//! prints the medians. `cargo bench -p cfgupdate-benches --bench render`; see docs/benchmarks.md.

#[path = "../../cfgupdate-core/tests/render_support/mod.rs"]
mod render_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::{EvaluationInput, evaluate};
use cfgupdate_core::render::{RenderLimits, RevisionFiles, read_pipeline, render_target};
use render_support::{files_of, fixture, gojsonnet_python, jpath_of, memory_repo, python_output};

const ROUNDS: usize = 30;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let root = fixture("bench");
    let repo = memory_repo(&files_of(&root));
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let files = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&files, "in the bench fixture").unwrap();
    let limits = RenderLimits::default();

    let mut objects = 0;
    let mut samples = Vec::new();
    for round in 0..=ROUNDS {
        let started = Instant::now();
        let mut count = 0;
        for target in pipeline.targets.values() {
            count += render_target(&files, &pipeline, target, &limits)
                .unwrap()
                .objects
                .len();
        }
        // Round 0 warms up.
        if round > 0 {
            samples.push(started.elapsed());
        }
        objects = count;
    }
    assert!(
        objects >= 200,
        "the bench fixture renders only {objects} objects"
    );
    let ours = median(samples);

    let mut samples = Vec::new();
    let jpath_paths = &pipeline.render.as_ref().unwrap().jpath;
    for round in 0..=ROUNDS {
        let started = Instant::now();
        for target in pipeline.targets.values() {
            let input = EvaluationInput {
                entrypoint: &target.entrypoint,
                jpath: jpath_paths,
                ext_vars: &target.ext_vars,
                tlas: &target.tlas,
            };
            evaluate(&files, input, &limits).unwrap();
        }
        if round > 0 {
            samples.push(started.elapsed());
        }
    }
    let ours_evaluation = median(samples);

    let jobs: serde_json::Value = pipeline
        .targets
        .values()
        .map(|target| serde_json::json!({"entrypoint": target.entrypoint.as_str(), "ext_vars": target.ext_vars, "tlas": target.tlas}))
        .collect::<Vec<_>>()
        .into();
    let jpath = jpath_of(&pipeline);
    let script = r#"
import json, sys, time, _gojsonnet
jobs, jpath, rounds = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
samples = []
for round in range(rounds + 1):
    started = time.perf_counter()
    for job in jobs:
        _gojsonnet.evaluate_file(job["entrypoint"], jpathdir=jpath, ext_vars=job["ext_vars"], tla_vars=job["tlas"])
    if round > 0:
        samples.append(time.perf_counter() - started)
samples.sort()
print(samples[len(samples) // 2])
"#;
    let stdout = python_output(Command::new(gojsonnet_python()).current_dir(&root).args([
        "-c",
        script,
        &jobs.to_string(),
        &serde_json::to_string(&jpath).unwrap(),
        &ROUNDS.to_string(),
    ]));
    let seconds: f64 = String::from_utf8_lossy(&stdout).trim().parse().unwrap();
    let theirs = Duration::from_secs_f64(seconds);

    println!(
        "render bench: {} targets, {objects} objects, median of {ROUNDS} rounds",
        pipeline.targets.len()
    );
    println!(
        "  cfgupdate render (jrsonnet + objects + YAML): {:>8.2} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "  cfgupdate evaluation only (jrsonnet to JSON): {:>8.2} ms",
        ours_evaluation.as_secs_f64() * 1e3
    );
    println!(
        "  go-jsonnet evaluation only:                   {:>8.2} ms",
        theirs.as_secs_f64() * 1e3
    );
    println!(
        "  cfgupdate is {:.1}x faster rendering, {:.1}x evaluating",
        theirs.as_secs_f64() / ours.as_secs_f64(),
        theirs.as_secs_f64() / ours_evaluation.as_secs_f64()
    );
}
