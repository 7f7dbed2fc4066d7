//! Every evaluation is bounded in memory and time and really stopped (issue 11, finding 2):
//! the binary evaluates in `evaluate-worker` child processes with an address-space limit and
//! kills them at the time limit; the service keeps answering while one runs; and no
//! repository content, however deep, takes the process down (finding 1, end to end).
//!
//! Each test gives its workers a memory limit of its own, which appears on their command line
//! (`evaluate-worker --memory <bytes>`), so that it can find them in /proc.

use crate::serve_support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cfgupdate_tests::GitDaemon;
use serve_support::{CI_TOKEN, Options, Server, all_credentials, get, post_as};

const PIPELINE: &str = "[render]\noutput = \"generated/{target}\"\n\n[[wave]]\nname = \"staging\"\nimages = { jsonnet = [\"envs/staging/images.libsonnet\"] }\ntargets = [\"staging\"]\n\n[target.staging]\nentrypoint = \"envs/staging/main.jsonnet\"\n";

fn images() -> String {
    format!(
        "{{\n  api: 'reg.example.com/api:0@sha256:{}',\n}}\n",
        "0".repeat(64)
    )
}

/// A target whose Deployment carries `computed` in an annotation.
fn entrypoint(computed: &str) -> String {
    format!(
        "local images = import 'images.libsonnet';\n\
         local computed = {computed};\n\
         [{{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: 'api', annotations: {{ computed: std.toString(computed) }} }},\n\
           spec: {{ template: {{ spec: {{ containers: [{{ name: 'api', image: images.api }}] }} }} }} }}]\n"
    )
}

/// Doubles a string forty times: a TiB.
const DOUBLING: &str =
    "local double(s, n) = if n == 0 then s else double(s + s, n - 1); std.length(double('x', 40))";

/// A fold over a hundred million numbers: minutes of work.
const FOLD: &str = "std.foldl(function(sum, n) sum + n, std.range(1, 100000000), 0)";

fn checkout(main: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("cfgupdate.toml", PIPELINE.to_owned()),
        ("envs/staging/images.libsonnet", images()),
        ("envs/staging/main.jsonnet", main.to_owned()),
    ] {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn cfgupdate(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

/// The workers started with the memory limit `memory`: their pid and their state letter
/// (`R` when any of its threads runs, else `S` sleeping, ...).
fn workers(memory: u64) -> Vec<(u32, char)> {
    let marker = format!("evaluate-worker\0--memory\0{memory}\0");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(&marker) {
            continue;
        }
        // The evaluation runs on a thread of its own: the process runs when any thread does.
        let mut state = '?';
        for task in fs::read_dir(entry.path().join("task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // `pid (comm) S ...`: the state follows the last parenthesis.
            let task_state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .unwrap_or('?');
            if state != 'R' {
                state = task_state;
            }
        }
        if state != 'Z' {
            found.push((pid, state));
        }
    }
    found
}

fn mib(n: u64) -> u64 {
    n << 20
}

#[test]
fn a_string_that_doubles_is_stopped_at_the_memory_limit_naming_the_target_and_the_limit() {
    let memory = mib(301);
    let dir = checkout(&entrypoint(DOUBLING));
    let output = cfgupdate(
        &["render", "-C", dir.path().to_str().unwrap()],
        &[("CFGUPDATE_RENDER_MEMORY", "301MiB".into())],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`staging`"), "{stderr}");
    assert!(stderr.contains("memory limit of 301 MiB"), "{stderr}");
    assert!(workers(memory).is_empty(), "{:?}", workers(memory));
}

#[test]
fn a_long_fold_is_stopped_at_the_time_limit_and_its_worker_killed() {
    let memory = mib(302);
    let dir = checkout(&entrypoint(FOLD));
    let started = Instant::now();
    let output = cfgupdate(
        &["check", "-C", dir.path().to_str().unwrap()],
        &[
            ("CFGUPDATE_RENDER_MEMORY", "302MiB".into()),
            ("CFGUPDATE_RENDER_TIMEOUT", "1s".into()),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`staging`"), "{stderr}");
    assert!(stderr.contains("time limit of 1 s"), "{stderr}");
    eprintln!("stopped and answered after {:?}", started.elapsed());
    assert!(workers(memory).is_empty(), "{:?}", workers(memory));
}

#[test]
fn an_evaluation_within_the_limits_renders_in_a_worker_as_in_process() {
    let dir = checkout(&entrypoint("1 + 1"));
    let path = dir.path().to_str().unwrap();
    let isolated = cfgupdate(&["render", "-C", path], &[]);
    let in_process = cfgupdate(
        &["render", "-C", path],
        &[("CFGUPDATE_RENDER_ISOLATION", "in-process".into())],
    );
    assert!(
        isolated.status.success(),
        "{}",
        String::from_utf8_lossy(&isolated.stderr)
    );
    assert_eq!(isolated.stdout, in_process.stdout);
    let text = String::from_utf8_lossy(&isolated.stdout);
    assert!(text.contains("computed:") && text.contains("2"), "{text}");
}

#[test]
fn bad_render_settings_are_invalid_usage_naming_the_variable() {
    let dir = checkout(&entrypoint("1"));
    let path = dir.path().to_str().unwrap();
    for (name, value) in [
        ("CFGUPDATE_RENDER_TIMEOUT", "soon"),
        ("CFGUPDATE_RENDER_TIMEOUT", "0s"),
        ("CFGUPDATE_RENDER_MEMORY", "1TB"),
        ("CFGUPDATE_RENDER_MEMORY", "1KiB"),
        ("CFGUPDATE_RENDER_ISOLATION", "none"),
    ] {
        let output = cfgupdate(&["render", "-C", path], &[(name, value.into())]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}

fn serve(
    daemon: &GitDaemon,
    name: &str,
    main: &str,
    dir: &Path,
    env: Vec<(&'static str, String)>,
) -> Server {
    let files = [
        ("cfgupdate.toml", PIPELINE.to_owned()),
        ("envs/staging/images.libsonnet", images()),
        ("envs/staging/main.jsonnet", main.to_owned()),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    daemon.create_remote(name, "master", &refs);
    let repo = daemon.url(name);
    let mut all = all_credentials();
    all.extend(env);
    Server::start(Options {
        repo: &repo,
        cache: &dir.join("cache"),
        log: dir.join("serve.log"),
        env: all,
        args: vec![],
    })
}

fn announcement() -> String {
    serde_json::json!({
        "app_commit": "1".repeat(40),
        "images": { "api": format!("reg.example.com/api:1@sha256:{}", "1".repeat(64)) },
    })
    .to_string()
}

#[test]
fn the_service_answers_health_and_metrics_during_a_runaway_publish_which_is_stopped_and_refused() {
    let memory = mib(303);
    let daemon = GitDaemon::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Runaway only with the announced image: the render before the change is fine, the one
    // after it is not.
    let server = serve(
        &daemon,
        "runaway",
        &entrypoint(&format!(
            "if std.endsWith(images.api, '1111') then {FOLD} else 0"
        )),
        dir.path(),
        vec![
            ("CFGUPDATE_RENDER_MEMORY", "303MiB".into()),
            ("CFGUPDATE_RENDER_TIMEOUT", "4s".into()),
        ],
    );
    let url = server.at("/v1/images");
    let publish = std::thread::spawn(move || post_as(&url, CI_TOKEN, &announcement()));
    // While the worker computes, the service answers.
    let mut answered_during = 0;
    let mut saw_worker = false;
    while !publish.is_finished() {
        assert_eq!(get(&server.at("/healthz")).status, 200);
        assert_eq!(get(&server.at("/metrics")).status, 200);
        saw_worker |= workers(memory).iter().any(|(_, state)| *state == 'R');
        answered_during += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let answer = publish.join().unwrap();
    assert_eq!(answer.status, 422, "{}", answer.text);
    let error = answer.error();
    assert!(error.contains("`staging`"), "{error}");
    assert!(error.contains("time limit of 4 s"), "{error}");
    assert!(saw_worker, "no worker was seen computing");
    assert!(answered_during > 3, "{answered_during}");
    // The runaway worker was killed: what is left of this service's workers sleeps, waiting
    // for its next job.
    let left = workers(memory);
    assert!(left.iter().all(|(_, state)| *state == 'S'), "{left:?}");
    // And nothing of it goes on in the service itself (an abandoned evaluation thread would
    // use a CPU for minutes): the service is idle.
    let before = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(server.pid()) - before;
    assert!(used < 25, "the service used {used} ticks of CPU while idle");
    assert_eq!(get(&server.at("/healthz")).status, 200);
}

/// The CPU time a process used so far, in clock ticks (user and system, `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based, of the whole line).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_deep_image_file_is_refused_by_check_and_the_service_stays_up() {
    // An 8 KB chain of unary minus in an image file: it used to pass `check` and abort the
    // service at the next status or publish.
    let deep = format!(
        "{{\n  api: 'reg.example.com/api:0@sha256:{}',\n  replicas: {}1,\n}}\n",
        "0".repeat(64),
        "-".repeat(8_000)
    );
    let dir = checkout(&entrypoint("1"));
    fs::write(dir.path().join("envs/staging/images.libsonnet"), &deep).unwrap();
    let output = cfgupdate(&["check", "-C", dir.path().to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("envs/staging/images.libsonnet:3"),
        "{stderr}"
    );

    let daemon = GitDaemon::start().unwrap();
    let state = tempfile::tempdir().unwrap();
    let files = [
        ("cfgupdate.toml", PIPELINE.to_owned()),
        ("envs/staging/images.libsonnet", deep),
        ("envs/staging/main.jsonnet", entrypoint("1")),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    daemon.create_remote("deep", "master", &refs);
    let repo = daemon.url("deep");
    let server = Server::start(Options {
        repo: &repo,
        cache: &state.path().join("cache"),
        log: state.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let status = get(&server.at("/v1/status"));
    assert!(
        status.text.contains("envs/staging/images.libsonnet:3"),
        "{}",
        status.text
    );
    // The branch's own image file is broken, which is not the sender's fault (docs/http.md):
    // 503 naming the file, and not ready until a person fixes it.
    let published = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement());
    assert_eq!(published.status, 503, "{}", published.text);
    assert!(
        published
            .error()
            .contains("envs/staging/images.libsonnet:3"),
        "{}",
        published.text
    );
    assert_eq!(get(&server.at("/healthz")).status, 200);
    let ready = get(&server.at("/readyz"));
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(ready.text.contains("images.libsonnet:3"), "{}", ready.text);
}

#[test]
fn generated_runaway_programs_are_stopped_at_a_limit_with_a_sentence_naming_it() {
    // A small generator (seeded, printed) over the families of runaway Jsonnet: doubling
    // strings, growing arrays and objects, long folds; the sizes vary with the seed.
    let seed = std::env::var("CFGUPDATE_TEST_SEED")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(0x5eed_cafe);
    eprintln!("seed {seed} (set CFGUPDATE_TEST_SEED to replay)");
    let mut state = seed;
    let mut next = |below: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    let families: Vec<String> = vec![
        format!(
            "local d(s, n) = if n == 0 then s else d(s + s, n - 1); std.length(d('{}', {}))",
            "x".repeat(1 + next(8) as usize),
            36 + next(20)
        ),
        format!(
            "std.length(std.join('', std.makeArray({}, function(i) '{}')))",
            1_000_000_000 + next(1_000_000),
            "y".repeat(8 + next(8) as usize)
        ),
        format!(
            "std.length(std.foldl(function(a, x) a + [x], std.range(1, {}), []))",
            100_000_000 + next(1_000)
        ),
        format!(
            "std.length({{ ['k' + i]: i for i in std.range(1, {}) }})",
            100_000_000 + next(1_000)
        ),
        format!(
            "std.foldl(function(sum, n) sum + n * {}, std.range(1, {}), 0)",
            1 + next(9),
            1_000_000_000 + next(1_000)
        ),
    ];
    for (index, computed) in families.iter().enumerate() {
        let memory = mib(310 + index as u64);
        let dir = checkout(&entrypoint(computed));
        let output = cfgupdate(
            &["render", "-C", dir.path().to_str().unwrap()],
            &[
                ("CFGUPDATE_RENDER_MEMORY", format!("{}MiB", 310 + index)),
                ("CFGUPDATE_RENDER_TIMEOUT", "3s".into()),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{computed}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{computed}: {stderr}");
        assert!(stderr.contains("`staging`"), "{computed}: {stderr}");
        assert!(
            stderr.contains("time limit of 3 s")
                || stderr.contains(&format!("memory limit of {} MiB", 310 + index)),
            "{computed}: {stderr}"
        );
        assert!(
            workers(memory).is_empty(),
            "{computed}: {:?}",
            workers(memory)
        );
    }
}
