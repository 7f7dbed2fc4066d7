//! `cfgupdate serve` driving the whole pipeline over HTTP against a `git daemon`: a burst of
//! concurrent announcements coalesced into fewer commits, and a run from staging to production
//! through deploy reports, a soak gate the service opens on its own, and an approval.

use crate::serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cfgupdate_tests::{GitDaemon, git};
use serde_json::{Value, json};
use serve_support::*;

/// The samples of a Prometheus text exposition (format 0.0.4), keyed `name{labels}` as
/// written; panics on any line that is not a comment or a well-formed sample of a declared
/// metric.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line}"
        );
        let labels = &series[name.len()..];
        if !labels.is_empty() {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("bad labels in {line}"));
            for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                let (key, value) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label in {line}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(!value.trim_end_matches('"').contains('"'), "{line}");
            }
        }
        let declared = ["", "_total", "_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| types.contains_key(base) || types.contains_key(name))
            });
        assert!(declared, "sample of an undeclared metric: {line}");
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn sample(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| {
        panic!(
            "no sample {series} in {:#?}",
            samples.keys().collect::<Vec<_>>()
        )
    })
}

#[test]
fn a_burst_of_concurrent_announcements_all_land_in_fewer_commits() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let before = subjects(&bare).len();
    let burst = 40;
    let barrier = Arc::new(Barrier::new(burst));
    let images = server.at("/v1/images");
    let started = Instant::now();
    let calls: Vec<_> = (1..=burst)
        .map(|i| {
            let barrier = barrier.clone();
            let images = images.clone();
            thread::spawn(move || {
                barrier.wait();
                let answer = post_as(
                    &images,
                    CI_TOKEN,
                    &announcement(i, SERVICES[i % SERVICES.len()]),
                );
                (i, answer)
            })
        })
        .collect();
    let mut commits = BTreeSet::new();
    for call in calls {
        let (i, answer) = call.join().unwrap();
        assert_eq!(answer.status, 200, "announcement {i}: {}", answer.text);
        let answer = answer.json();
        assert_eq!(answer["result"], "committed", "announcement {i}: {answer}");
        commits.insert(answer["commit"].as_str().unwrap().to_owned());
    }
    let elapsed = started.elapsed();
    let subjects = subjects(&bare);
    let made = subjects.len() - before;
    let apps: BTreeSet<String> = trailer_values(&bare, "Cfgupdate-App-Commit")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = (1..=burst).map(app).collect();
    assert_eq!(
        apps, expected,
        "every announcement's app commit has its trailer"
    );
    assert_eq!(
        made,
        commits.len(),
        "the answers name exactly the commits made"
    );
    assert!(made < burst, "{made} commits for {burst} announcements");
    eprintln!("{burst} concurrent announcements: {made} commits in {elapsed:?}");
    // Each service ends at the image of one of its announcements, all of them on the branch.
    let staging = git(&bare, &["show", "master:envs/staging/images.libsonnet"]);
    for service in SERVICES {
        assert!(
            !staging.contains(&zero(service)),
            "{service} unchanged:\n{staging}"
        );
    }
    let fsck = cfgupdate_tests::try_git(&bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let metrics = parse_prometheus(&get(&server.at("/metrics")).text);
    assert_eq!(
        sample(
            &metrics,
            "cfgupdate_http_requests_total{endpoint=\"/v1/images\",code=\"200\"}"
        ),
        burst as f64
    );
    assert_eq!(
        sample(&metrics, "cfgupdate_commits_total{action=\"publish\"}"),
        made as f64
    );
    assert_eq!(
        sample(&metrics, "cfgupdate_announcement_to_commit_seconds_count"),
        burst as f64
    );
    assert_eq!(
        sample(&metrics, "cfgupdate_group_commit_announcements_sum"),
        burst as f64
    );
}

#[test]
fn a_release_goes_from_staging_to_production_through_reports_a_soak_timer_and_an_approval() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec!["--log-format", "json"],
    });
    let deployments = server.at("/v1/deployments");
    let report = |target: (&str, &str), revision: &str| {
        let body = json!({ target.0: target.1, "revision": revision, "status": "succeeded" });
        let answer = post_as(&deployments, DEPLOY_TOKEN, &body.to_string());
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    };

    // CI announces; staging gets it.
    let published = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(published.status, 200, "{}", published.text);
    let c1 = published.json()["commit"].as_str().unwrap().to_owned();

    // Argo CD reports staging: one target, then the other (by its application name).
    let answer = report(("target", "staging-us"), &c1);
    assert_eq!(answer["result"], "recorded", "{answer}");
    // The soak counts from the report's arrival, which is after this instant however long the
    // answer takes on a loaded machine.
    let completed = Instant::now();
    let answer = report(("app", "cfg-app-staging-eu"), &c1);
    assert_eq!(answer["result"], "pending", "{answer}");
    assert_eq!(
        (answer["wave"].as_str(), answer["gate"].as_str()),
        (Some("internal"), Some("soak"))
    );
    assert!(answer["ready_at"].is_string(), "{answer}");

    // Nobody asks again: the service's timer promotes when the soak gate opens.
    let internal = || git(&bare, &["show", "master:images/internal.json"]);
    eventually(
        Duration::from_secs(30),
        "the soak timer promotes into internal",
        || internal().contains(&reference("api", 1)),
    );
    let waited = completed.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "promoted after {waited:?}, before the soak of 2s"
    );
    let p1 = git(&bare, &["rev-parse", "master"]).trim().to_owned();
    assert_eq!(
        git(
            &bare,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Cfgupdate-Action,valueonly)",
                "master"
            ]
        )
        .trim(),
        "promote"
    );

    // Internal deploys it; production waits for approval, which the admin gives.
    let answer = report(("target", "internal"), &p1);
    assert_eq!(answer["result"], "pending", "{answer}");
    assert_eq!(
        (answer["wave"].as_str(), answer["gate"].as_str()),
        (Some("production"), Some("approval"))
    );
    let answer = post_as(
        &server.at("/v1/approvals"),
        ADMIN_TOKEN,
        r#"{"wave": "production"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let answer = answer.json();
    assert_eq!(
        (answer["result"].as_str(), answer["wave"].as_str()),
        (Some("promoted"), Some("production")),
        "{answer}"
    );
    let p2 = answer["commit"].as_str().unwrap().to_owned();
    assert_eq!(git(&bare, &["rev-parse", "master"]).trim(), p2);
    let tags = git(&bare, &["show", "master:images/prod/tags.json"]);
    let digests = git(&bare, &["show", "master:images/prod/digests.json"]);
    assert!(
        tags.contains(&format!("\"reg.example.com/api:{}\"", app(1))),
        "{tags}"
    );
    assert!(
        digests.contains(&format!("\"reg.example.com/api@sha256:{:064x}\"", 1)),
        "{digests}"
    );
    let answer = report(("target", "prod"), &p2);
    assert_eq!(answer["result"], "recorded", "{answer}");

    // GET /v1/status is what `cfgupdate status --json` prints.
    let served = get(&server.at("/v1/status"));
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(["status", "--repo", &url, "--json"])
        .env("CFGUPDATE_CACHE_DIR", dir.path().join("cli-cache"))
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert_eq!(served.text, String::from_utf8(printed.stdout).unwrap());
    let status: Value = served.json();
    assert_eq!(status["waves"][2]["images"]["api"], reference("api", 1));

    // The metrics count what happened.
    let metrics = parse_prometheus(&get(&server.at("/metrics")).text);
    for (series, value) in [
        ("cfgupdate_commits_total{action=\"publish\"}", 1.0),
        ("cfgupdate_commits_total{action=\"promote\"}", 1.0),
        ("cfgupdate_commits_total{action=\"approve\"}", 1.0),
        (
            "cfgupdate_http_requests_total{endpoint=\"/v1/deployments\",code=\"200\"}",
            4.0,
        ),
        (
            "cfgupdate_http_requests_total{endpoint=\"/v1/approvals\",code=\"200\"}",
            1.0,
        ),
        (
            "cfgupdate_report_to_promotion_seconds_count{wave=\"internal\"}",
            1.0,
        ),
        (
            "cfgupdate_report_to_promotion_seconds_count{wave=\"production\"}",
            1.0,
        ),
        ("cfgupdate_announcement_to_commit_seconds_count", 1.0),
    ] {
        assert_eq!(sample(&metrics, series), value, "{series}");
    }
    let soak = sample(
        &metrics,
        "cfgupdate_report_to_promotion_seconds_sum{wave=\"internal\"}",
    );
    assert!(
        soak >= 1.9,
        "report to promotion into internal took {soak} s, less than its soak"
    );
    assert!(
        sample(
            &metrics,
            "cfgupdate_pushes_total{git_ref=\"state\",outcome=\"pushed\"}"
        ) >= 5.0
    );

    // JSON logs, one object a line, with the promotions in them.
    let log = server.log();
    let events: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "promoted on the service's own timer"),
        "{log}"
    );
}
