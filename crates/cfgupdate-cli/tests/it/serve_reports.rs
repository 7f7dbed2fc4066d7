//! `cfgupdate serve` taking a wave's deploy reports all at once, as Argo CD sends them when it
//! syncs every target of a wave together (issue 12): the reports that queue while a push is in
//! flight become one state update, exactly one promotion follows, and every report gets its
//! own answer. Against a real `git daemon`, with a state key.

use crate::serve_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use cfgupdate_tests::{GitDaemon, git, install_hook};
use serde_json::{Value, json};
use serve_support::*;

/// Staging targets: enough that the reports outrun the writer.
const TARGETS: usize = 24;

fn target(i: usize) -> String {
    format!("staging-{i:02}")
}

/// Two waves: `TARGETS` staging targets sharing one JSON image file, one production target.
fn files() -> Vec<(String, String)> {
    let mut pipeline =
        String::from("[[wave]]\nname = \"staging\"\nimages = \"images/staging.json\"\ntargets = [");
    let names: Vec<String> = (0..TARGETS).map(|i| format!("\"{}\"", target(i))).collect();
    pipeline.push_str(&names.join(", "));
    pipeline.push_str(
        "]\n\n[[wave]]\nname = \"production\"\nimages = \"images/production.json\"\ntargets = [\"prod\"]\n\n",
    );
    for i in 0..TARGETS {
        pipeline.push_str(&format!(
            "[target.{}]\nentrypoint = \"envs/main.jsonnet\"\next_vars = {{ file = \"staging\", ns = \"{}\" }}\n\n",
            target(i),
            target(i)
        ));
    }
    pipeline.push_str("[target.prod]\nentrypoint = \"envs/prod.jsonnet\"\n");
    let images = format!("{{\n  \"api\": \"{}\"\n}}\n", zero("api"));
    let deployment = |images: &str, ns: &str| {
        format!(
            "local images = import '{images}';\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: {ns} }},\n    spec: {{ template: {{ spec: {{ containers: [{{ name: s, image: images[s] }}] }} }} }} }}\n  for s in std.objectFields(images)\n]\n"
        )
    };
    vec![
        ("cfgupdate.toml".into(), pipeline),
        ("images/staging.json".into(), images.clone()),
        ("images/production.json".into(), images),
        (
            "envs/main.jsonnet".into(),
            deployment("../images/staging.json", "std.extVar('ns')"),
        ),
        (
            "envs/prod.jsonnet".into(),
            deployment("../images/production.json", "'prod'"),
        ),
    ]
}

/// Starts the service named by the path `run` (its log is `run.log`), its cache in the
/// directory above, which every run of one test shares.
fn start(run: &Path, url: &str) -> Server {
    let mut env = all_credentials();
    env.push(("CFGUPDATE_STATE_KEY", "a state key of serve_reports".into()));
    let cache = run.parent().unwrap_or(run).join("cache");
    Server::start(Options {
        repo: url,
        cache: &cache,
        log: run.with_extension("log"),
        env,
        args: vec![],
    })
}

/// The commits of the remote's state ref.
fn state_commits(bare: &Path) -> usize {
    git(
        bare,
        &["rev-list", "--count", "refs/cfgupdate/state/master"],
    )
    .trim()
    .parse()
    .unwrap()
}

/// Sends every body at once, released together; returns the answers in the bodies' order.
fn all_at_once(url: &str, bodies: Vec<Value>) -> Vec<Answer> {
    let barrier = Arc::new(Barrier::new(bodies.len()));
    let calls: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let barrier = barrier.clone();
            let url = url.to_owned();
            thread::spawn(move || {
                barrier.wait();
                post_as(&url, DEPLOY_TOKEN, &body.to_string())
            })
        })
        .collect();
    calls.into_iter().map(|call| call.join().unwrap()).collect()
}

fn publish(server: &Server) -> String {
    let published = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(published.status, 200, "{}", published.text);
    published.json()["commit"].as_str().unwrap().to_owned()
}

/// Logs every push the remote at `bare` receives as one line of `ref=new-id` pairs, in
/// `pushes.log` inside it.
fn log_pushes(bare: &Path) {
    install_hook(
        bare,
        "post-receive",
        "#!/bin/sh\nwhile read old new ref; do printf '%s=%s ' \"$ref\" \"$new\"; done >> pushes.log\necho >> pushes.log\n",
    );
}

/// The refs each logged push updated, in order.
fn pushes(bare: &Path) -> Vec<String> {
    std::fs::read_to_string(bare.join("pushes.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn promotions(bare: &Path) -> usize {
    subjects(bare)
        .iter()
        .filter(|s| s.starts_with("Promote "))
        .count()
}

#[test]
fn a_wave_s_concurrent_reports_make_few_state_pushes_one_promotion_and_right_answers() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("only"), &daemon.url("config.git"));
    let revision = publish(&server);
    let state_before = state_commits(&bare);
    log_pushes(&bare);

    let bodies = (0..TARGETS)
        .map(|i| json!({ "target": target(i), "revision": revision, "status": "succeeded" }))
        .collect();
    let answers = all_at_once(&server.at("/v1/deployments"), bodies);

    let tip = git(&bare, &["rev-parse", "master"]).trim().to_owned();
    let mut promoted_by = BTreeSet::new();
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.status, 200, "report {i}: {}", answer.text);
        let answer = answer.json();
        match answer["result"].as_str() {
            Some("promoted") => {
                assert_eq!(answer["wave"], "production", "report {i}: {answer}");
                promoted_by.insert(answer["commit"].as_str().unwrap().to_owned());
            }
            Some("recorded") => {
                let reason = answer["reason"].as_str().unwrap();
                assert!(reason.contains("staging-"), "report {i}: {reason}");
            }
            _ => panic!("report {i}: {answer}"),
        }
    }
    assert_eq!(promotions(&bare), 1, "{:?}", subjects(&bare));
    assert_eq!(
        promoted_by,
        BTreeSet::from([tip.clone()]),
        "every promoted answer names the one promotion commit"
    );
    let production = git(&bare, &["show", "master:images/production.json"]);
    assert!(production.contains(&reference("api", 1)), "{production}");
    // The reports that completed the wave and the promotion landed in one push of both refs,
    // whether they came alone or in a batch.
    let pushes = pushes(&bare);
    let promoting: Vec<&String> = pushes
        .iter()
        .filter(|push| push.contains(&format!("refs/heads/master={tip}")))
        .collect();
    assert_eq!(promoting.len(), 1, "{pushes:?}");
    assert!(
        promoting[0].contains("refs/cfgupdate/state/master="),
        "the promotion was pushed without the state: {pushes:?}"
    );

    // Every report is in the state, in fewer state commits than reports.
    let pushes = state_commits(&bare) - state_before;
    assert!(
        pushes < TARGETS / 2,
        "{pushes} state commits for {TARGETS} reports"
    );
    let status = get(&server.at("/v1/status")).json();
    let reported = status["waves"][0]["targets"]
        .as_array()
        .map(|targets| {
            targets
                .iter()
                .filter(|t| t["last_report"]["revision"] == revision.as_str())
                .count()
        })
        .unwrap_or(0);
    assert_eq!(reported, TARGETS, "{status}");
    let metrics = get(&server.at("/metrics")).text;
    assert!(
        metrics.contains(&format!("cfgupdate_report_batch_reports_sum {TARGETS}")),
        "{metrics}"
    );
    let fsck = cfgupdate_tests::try_git(&bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
}

#[test]
fn a_bad_or_failed_report_among_concurrent_ones_gets_its_own_answer_and_blocks_nothing_else() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("only"), &daemon.url("config.git"));
    let revision = publish(&server);

    // Every staging target reports, one of them a failed deployment; beside them a report of
    // a target that does not exist and one of a revision that is not on the branch.
    let mut bodies: Vec<Value> = (0..TARGETS)
        .map(|i| {
            let status = if i == 3 { "failed" } else { "succeeded" };
            json!({ "target": target(i), "revision": revision, "status": status })
        })
        .collect();
    bodies.push(json!({ "target": "staging-99", "revision": revision, "status": "succeeded" }));
    let off_branch = "e".repeat(40);
    bodies.push(json!({ "target": target(0), "revision": off_branch, "status": "succeeded" }));
    let answers = all_at_once(&server.at("/v1/deployments"), bodies);

    for (i, answer) in answers[..TARGETS].iter().enumerate() {
        assert_eq!(answer.status, 200, "report {i}: {}", answer.text);
        let answer = answer.json();
        assert_eq!(answer["result"], "recorded", "report {i}: {answer}");
    }
    let unknown = &answers[TARGETS];
    assert!(
        (400..500).contains(&unknown.status) && unknown.text.contains("staging-99"),
        "{} {}",
        unknown.status,
        unknown.text
    );
    let off = &answers[TARGETS + 1];
    assert!(
        (400..500).contains(&off.status) && off.text.contains(&off_branch),
        "{} {}",
        off.status,
        off.text
    );
    assert_eq!(
        promotions(&bare),
        0,
        "a failed deployment blocks the promotion"
    );

    // The failed target deploys again, successfully: the wave promotes, once.
    let answer = post_as(
        &server.at("/v1/deployments"),
        DEPLOY_TOKEN,
        &json!({ "target": target(3), "revision": revision, "status": "succeeded" }).to_string(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "promoted", "{}", answer.text);
    assert_eq!(promotions(&bare), 1);
}

#[test]
fn reports_answered_200_survive_a_sigkill_mid_batch_and_the_wave_promotes_once_after_restart() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let mut server = start(&dir.path().join("first"), &url);
    let revision = publish(&server);

    // The reports come spread over a second or two; the kill comes once a few are answered,
    // while others are queued or being pushed.
    let answers = Arc::new(AtomicUsize::new(0));
    let deployments = server.at("/v1/deployments");
    let calls: Vec<_> = (0..TARGETS)
        .map(|i| {
            let url = deployments.clone();
            let answers = answers.clone();
            let body = json!({ "target": target(i), "revision": revision, "status": "succeeded" })
                .to_string();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(40 * i as u64));
                let bearer = format!("Bearer {DEPLOY_TOKEN}");
                match try_post(&url, &[("Authorization", &bearer)], &body) {
                    Ok(response) => {
                        answers.fetch_add(1, Ordering::SeqCst);
                        Some(into_answer(Ok(response)))
                    }
                    Err(_) => None,
                }
            })
        })
        .collect();
    eventually(Duration::from_secs(60), "a few answers", || {
        answers.load(Ordering::SeqCst) >= 4
    });
    server.kill();
    let mut answered = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        if let Some(answer) = call.join().unwrap() {
            assert_eq!(answer.status, 200, "report {i}: {}", answer.text);
            answered.push(i);
        }
    }
    assert!(answered.len() < TARGETS, "the kill came after every answer");
    let fsck = cfgupdate_tests::try_git(&bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );

    // A new process on the same cache: every report answered 200 is in the state.
    let server = start(&dir.path().join("second"), &url);
    let status = get(&server.at("/v1/status")).json();
    let targets = status["waves"][0]["targets"].as_array().unwrap();
    for i in &answered {
        let found = targets
            .iter()
            .find(|t| t["name"] == target(*i).as_str())
            .unwrap();
        assert_eq!(
            found["last_report"]["revision"],
            revision.as_str(),
            "report {i} was answered 200 but is not in the state: {found}"
        );
    }
    // The deployer retries what got no answer; the wave promotes, once.
    let bodies = (0..TARGETS)
        .filter(|i| !answered.contains(i))
        .map(|i| json!({ "target": target(i), "revision": revision, "status": "succeeded" }))
        .collect();
    for answer in all_at_once(&server.at("/v1/deployments"), bodies) {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    assert_eq!(promotions(&bare), 1, "{:?}", subjects(&bare));
}
