//! Every evaluation is bounded in memory and time and really stopped (issue 11, finding 2):
//! the binary evaluates in `evaluate-worker` child processes with an address-space limit and
//! kills them at the time limit; the service keeps answering while one runs; and no
//! repository content, however deep, takes the process down (finding 1, end to end).
//!
//! Several evaluations run at once (`CFGUPDATE_RENDER_WORKERS`, issue 12) give the same YAML,
//! the same errors in the same order, and the same limits as one at a time.
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
        ("CFGUPDATE_RENDER_WORKERS", "0"),
        ("CFGUPDATE_RENDER_WORKERS", "65"),
        ("CFGUPDATE_RENDER_WORKERS", "two"),
        ("CFGUPDATE_RENDER_WORKERS", "-1"),
        ("CFGUPDATE_RENDER_WORKERS", "99999999999999999999999"),
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
            ("CFGUPDATE_RENDER_TIMEOUT", "2s".into()),
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
    assert!(error.contains("time limit of 2 s"), "{error}");
    assert!(saw_worker, "no worker was seen computing");
    assert!(answered_during > 3, "{answered_during}");
    // The runaway worker was killed: what is left of this service's workers sleeps, waiting
    // for its next job. A worker that finished a sibling target may still be on its way back
    // to its pipe on a loaded machine (seen once, in review): a runaway never gets there.
    let mut left = workers(memory);
    let settle = Instant::now() + Duration::from_secs(10);
    while !left.iter().all(|(_, state)| *state == 'S') && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(100));
        left = workers(memory);
    }
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

/// Targets of [`many_targets`]: more than a window of four workers holds.
const MANY: usize = 20;

/// A checkout with [`MANY`] targets in one wave, each rendering a few Deployments from one
/// image file and one library; `mains` overrides some targets' entrypoints.
fn many_targets(mains: &[(usize, &str)]) -> tempfile::TempDir {
    let name = |index: usize| format!("t{index:02}");
    let mut pipeline = format!(
        "[render]\noutput = \"generated/{{target}}\"\n\n[[wave]]\nname = \"staging\"\nimages = {{ jsonnet = [\"images.libsonnet\"] }}\ntargets = [{}]\n",
        (0..MANY)
            .map(|index| format!("\"{}\"", name(index)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut files = vec![
        ("images.libsonnet".to_owned(), images()),
        (
            "lib.libsonnet".to_owned(),
            "{ deployment(name, ns, image):: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: name, namespace: ns }, spec: { template: { spec: { containers: [{ name: name, image: image }] } } } } }\n".to_owned(),
        ),
    ];
    for index in 0..MANY {
        pipeline.push_str(&format!(
            "\n[target.{0}]\nentrypoint = \"envs/{0}/main.jsonnet\"\n",
            name(index)
        ));
        let main = mains
            .iter()
            .find(|(at, _)| *at == index)
            .map_or_else(
                || {
                    format!(
                        "local lib = import '../../lib.libsonnet';\nlocal images = import '../../images.libsonnet';\n[lib.deployment('api-%d' % n, '{}', images.api) for n in std.range(1, {})]\n",
                        name(index),
                        1 + index % 4
                    )
                },
                |(_, text)| (*text).to_owned(),
            );
        files.push((format!("envs/{}/main.jsonnet", name(index)), main));
    }
    files.push(("cfgupdate.toml".to_owned(), pipeline));
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

/// Every file below `dir`, by relative path, with its content.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.push((relative, fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn with_workers(workers: usize, memory: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CFGUPDATE_RENDER_WORKERS", workers.to_string()),
        ("CFGUPDATE_RENDER_MEMORY", memory.to_owned()),
    ]
}

#[test]
fn many_targets_render_byte_identical_yaml_with_one_and_with_four_workers() {
    let one = many_targets(&[]);
    let four = many_targets(&[]);
    let (one_path, four_path) = (one.path().to_str().unwrap(), four.path().to_str().unwrap());
    for isolation in ["process", "in-process"] {
        let mut env_one = with_workers(1, "320MiB");
        let mut env_four = with_workers(4, "320MiB");
        env_one.push(("CFGUPDATE_RENDER_ISOLATION", isolation.into()));
        env_four.push(("CFGUPDATE_RENDER_ISOLATION", isolation.into()));
        let by_one = cfgupdate(&["render", "-C", one_path], &env_one);
        let by_four = cfgupdate(&["render", "-C", one_path], &env_four);
        assert!(
            by_one.status.success(),
            "{}",
            String::from_utf8_lossy(&by_one.stderr)
        );
        assert_eq!(by_one.stdout, by_four.stdout, "{isolation}");
        let documents = String::from_utf8_lossy(&by_one.stdout)
            .matches("---\n")
            .count();
        assert_eq!(
            documents,
            (0..MANY).map(|index| 1 + index % 4).sum::<usize>()
        );
    }
    let written_one = cfgupdate(
        &["render", "-C", one_path, "--write"],
        &with_workers(1, "320MiB"),
    );
    let written_four = cfgupdate(
        &["render", "-C", four_path, "--write"],
        &with_workers(4, "320MiB"),
    );
    assert!(written_one.status.success() && written_four.status.success());
    assert_eq!(written_one.stderr, written_four.stderr);
    assert_eq!(tree(one.path()), tree(four.path()));
    let checked_one = cfgupdate(&["check", "-C", one_path], &with_workers(1, "320MiB"));
    let checked_four = cfgupdate(&["check", "-C", one_path], &with_workers(4, "320MiB"));
    assert!(
        checked_four.status.success(),
        "{}",
        String::from_utf8_lossy(&checked_four.stderr)
    );
    assert_eq!(checked_one.stdout, checked_four.stdout);
    assert_eq!(checked_one.stderr, checked_four.stderr);
}

#[test]
fn errors_in_targets_among_many_are_reported_the_same_way_with_one_and_with_four_workers() {
    let dir = many_targets(&[(6, "error 'target six is broken'\n"), (13, "{ a: }\n")]);
    let path = dir.path().to_str().unwrap();
    for command in ["render", "check"] {
        let by_one = cfgupdate(&[command, "-C", path], &with_workers(1, "321MiB"));
        let by_four = cfgupdate(&[command, "-C", path], &with_workers(4, "321MiB"));
        let stderr = String::from_utf8_lossy(&by_one.stderr).into_owned();
        assert_eq!(by_one.status.code(), Some(2), "{command}: {stderr}");
        assert_eq!(by_one.status.code(), by_four.status.code(), "{command}");
        assert_eq!(by_one.stdout, by_four.stdout, "{command}");
        assert_eq!(
            stderr,
            String::from_utf8_lossy(&by_four.stderr),
            "{command}"
        );
        assert!(
            stderr.contains("t06") && stderr.contains("target six is broken"),
            "{stderr}"
        );
        if command == "check" {
            // check names every problem, in the pipeline's order.
            let (six, thirteen) = (stderr.find("t06").unwrap(), stderr.find("t13"));
            assert!(thirteen.is_some_and(|at| at > six), "{stderr}");
        }
    }
}

#[test]
fn a_timed_out_target_among_many_is_stopped_alone_with_four_workers() {
    let memory = mib(322);
    let dir = many_targets(&[(5, &entrypoint(FOLD))]);
    let path = dir.path().to_str().unwrap();
    let mut outputs = Vec::new();
    for workers_at_once in [4, 1] {
        let mut env = with_workers(workers_at_once, "322MiB");
        env.push(("CFGUPDATE_RENDER_TIMEOUT", "3s".into()));
        let output = cfgupdate(&["check", "-C", path], &env);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("`t05`") || stderr.contains("t05"),
            "{stderr}"
        );
        assert!(stderr.contains("time limit of 3 s"), "{stderr}");
        // The other targets rendered: their (missing) YAML is what check complains of.
        assert!(stderr.contains("t04") && stderr.contains("t06"), "{stderr}");
        // The idle workers end when their parent does, a moment after it; the one stopped at
        // the time limit, which would fold for minutes, must be gone too.
        let waited = Instant::now();
        while !workers(memory).is_empty() && waited.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(workers(memory).is_empty(), "{:?}", workers(memory));
        outputs.push((output.status.code(), output.stdout, stderr));
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn a_publish_to_many_targets_commits_the_same_tree_with_one_and_with_four_workers() {
    let checkout = many_targets(&[]);
    let path = checkout.path().to_str().unwrap();
    let rendered = cfgupdate(
        &["render", "-C", path, "--write"],
        &with_workers(1, "323MiB"),
    );
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let files: Vec<(String, String)> = tree(checkout.path())
        .into_iter()
        .map(|(path, bytes)| (path, String::from_utf8(bytes).unwrap()))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    let daemon = GitDaemon::start().unwrap();
    let image = format!("api=reg.example.com/api:1@sha256:{}", "1".repeat(64));
    let mut trees = Vec::new();
    for workers_at_once in [1, 4] {
        let name = format!("workers{workers_at_once}.git");
        let bare = daemon.create_remote(&name, "master", &files);
        let cache = tempfile::tempdir().unwrap();
        let mut env = with_workers(workers_at_once, "323MiB");
        env.push(("CFGUPDATE_CACHE_DIR", cache.path().to_str().unwrap().into()));
        let published = cfgupdate(
            &[
                "publish",
                "--repo",
                &daemon.url(&name),
                "--app-commit",
                &"2".repeat(40),
                "--image",
                &image,
            ],
            &env,
        );
        let stderr = String::from_utf8_lossy(&published.stderr);
        assert!(published.status.success(), "{workers_at_once}: {stderr}");
        let commit = String::from_utf8_lossy(&published.stdout).trim().to_owned();
        assert_eq!(commit.len(), 40, "{commit:?} {stderr}");
        // Every target's Deployment YAML changed in the commit, in both.
        let changed = cfgupdate_tests::git(
            &bare,
            &["diff", "--name-only", &format!("{commit}^"), &commit],
        );
        assert_eq!(
            changed
                .lines()
                .filter(|path| path.starts_with("generated/"))
                .count(),
            (0..MANY).map(|index| 1 + index % 4).sum::<usize>(),
            "{changed}"
        );
        trees.push(cfgupdate_tests::git(
            &bare,
            &["rev-parse", &format!("{commit}^{{tree}}")],
        ));
    }
    assert_eq!(trees[0], trees[1]);
}

#[test]
fn a_worker_that_aborts_at_the_memory_limit_among_many_ends_its_target_alone() {
    let memory = mib(324);
    let dir = many_targets(&[(9, &entrypoint(DOUBLING))]);
    let path = dir.path().to_str().unwrap();
    let mut outputs = Vec::new();
    for workers_at_once in [4, 1] {
        let output = cfgupdate(
            &["check", "-C", path],
            &with_workers(workers_at_once, "324MiB"),
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("t09"), "{stderr}");
        assert!(stderr.contains("memory limit of 324 MiB"), "{stderr}");
        // The targets before and after it rendered: their (missing) YAML is what check
        // complains of, and no other target failed to render.
        assert!(stderr.contains("t08") && stderr.contains("t10"), "{stderr}");
        assert_eq!(stderr.matches("memory limit").count(), 1, "{stderr}");
        let waited = Instant::now();
        while !workers(memory).is_empty() && waited.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(workers(memory).is_empty(), "{:?}", workers(memory));
        outputs.push((output.status.code(), output.stdout, stderr));
    }
    assert_eq!(outputs[0], outputs[1]);
}
