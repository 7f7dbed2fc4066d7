//! Two `cfgupdate serve` processes, each with its own cache, on the same remote, taking
//! announcements and deploy reports at once: every announcement lands exactly once, every
//! report is recorded exactly once, and the soak timers of both never promote the same thing
//! twice.

use crate::serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cfgupdate_tests::GitDaemon;
use cfgupdate_tests::Rng;
use serde_json::json;
use serve_support::faults::*;
use serve_support::*;

/// Sends one request, retrying on 503 as a client that honours it would (sooner than its
/// `Retry-After`, to keep the test short); returns the answer and how many 503s it took.
fn send_until_not_503(url: &str, token: &str, body: &str) -> (Answer, usize) {
    let mut refused = 0;
    loop {
        let answer = post_as(url, token, body);
        if answer.status != 503 || refused >= 20 {
            return (answer, refused);
        }
        assert!(answer.header("retry-after").is_some(), "{}", answer.text);
        refused += 1;
        thread::sleep(Duration::from_millis(200));
    }
}

/// The value of one sample of a Prometheus text exposition, 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

enum Request {
    Announce(usize),
    Report(&'static str, String, &'static str),
}

#[test]
fn two_replicas_on_one_remote_land_every_announcement_and_report_once_and_promote_once() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let start = |name: &str| {
        Server::start(Options {
            repo: &url,
            cache: &dir.path().join(format!("cache-{name}")),
            log: dir.path().join(format!("{name}.log")),
            env: all_credentials(),
            // Both look for promotions often, so that their soak timers race.
            args: vec!["--advance-interval", "500ms"],
        })
    };
    let servers = [start("a"), start("b")];

    // Revisions to report: six commits on the branch, made one at a time, through both.
    let mut revisions = Vec::new();
    for i in 1..=6 {
        let server = &servers[i % 2];
        let answer = post_as(
            &server.at("/v1/images"),
            CI_TOKEN,
            &announcement(i, SERVICES[i % 4]),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        revisions.push(answer.json()["commit"].as_str().unwrap().to_owned());
    }

    // At once: 40 announcements and 15 reports, alternating between the two servers, the
    // reports of each target in a shuffled order.
    let (mut rng, _) = Rng::from_env("CFGUPDATE_FAULT_SEED", 7);
    let mut requests: Vec<Request> = (100..140).map(Request::Announce).collect();
    let mut sent: BTreeMap<&'static str, Vec<(String, &'static str)>> = BTreeMap::new();
    for (target, count, status) in [
        ("staging-us", 6, "succeeded"),
        ("staging-eu", 6, "succeeded"),
        ("internal", 3, "failed"),
    ] {
        let mut order: Vec<String> = revisions[..count].to_vec();
        for k in (1..order.len()).rev() {
            order.swap(k, rng.below(k + 1));
        }
        for revision in order {
            sent.entry(target)
                .or_default()
                .push((revision.clone(), status));
            requests.push(Request::Report(target, revision, status));
        }
    }
    let barrier = Arc::new(Barrier::new(requests.len()));
    let started = Instant::now();
    let calls: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(n, request)| {
            let barrier = barrier.clone();
            let base = servers[n % 2].url.clone();
            thread::spawn(move || {
                barrier.wait();
                let (answer, refused) = match &request {
                    Request::Announce(i) => send_until_not_503(
                        &format!("{base}/v1/images"),
                        CI_TOKEN,
                        &announcement(*i, SERVICES[i % 4]),
                    ),
                    Request::Report(target, revision, status) => send_until_not_503(
                        &format!("{base}/v1/deployments"),
                        DEPLOY_TOKEN,
                        &json!({"target": target, "revision": revision, "status": status})
                            .to_string(),
                    ),
                };
                (request, answer, refused)
            })
        })
        .collect();
    let mut refused = 0;
    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    for call in calls {
        let (request, answer, retries) = call.join().unwrap();
        refused += retries;
        let what = match request {
            Request::Announce(i) => format!("announcement {i}"),
            Request::Report(target, revision, _) => format!("report {target} {revision}"),
        };
        assert_eq!(answer.status, 200, "{what}: {}", answer.text);
        let result = answer.json()["result"].as_str().unwrap().to_owned();
        if what.starts_with("announcement") {
            assert_eq!(result, "committed", "{what}: {}", answer.text);
        }
        *results.entry(result).or_default() += 1;
    }
    let burst = started.elapsed();

    // Every announcement exactly once. (A promotion names again the app commits of the images
    // it moves, and one may land before this check when the burst outlasts the 2 s soak: only
    // publish commits count.)
    let format = "--format=%(trailers:key=Cfgupdate-Action,valueonly,separator=%x2C)|%(trailers:key=Cfgupdate-App-Commit,valueonly,separator=%x2C)";
    let trailers: Vec<String> = cfgupdate_tests::git(&bare, &["log", format, "master"])
        .lines()
        .filter_map(|line| line.split_once('|'))
        .filter(|(action, _)| action.trim() == "publish")
        .flat_map(|(_, apps)| apps.split(',').map(|app| app.trim().to_owned()))
        .filter(|app| !app.is_empty())
        .collect();
    let expected: BTreeSet<String> = (1..=6).chain(100..140).map(app).collect();
    assert_eq!(
        trailers.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "announcements missing or foreign"
    );
    assert_eq!(
        trailers.len(),
        expected.len(),
        "an announcement landed twice: {trailers:?}"
    );

    // Every report exactly once: they are all different, so none may be merged away.
    let state = state_document(&bare);
    for (target, reports) in &sent {
        let recorded: Vec<(String, String)> = state["reports"][target]
            .as_array()
            .unwrap_or_else(|| panic!("no reports of {target}: {state}"))
            .iter()
            .map(|r| {
                (
                    r["revision"].as_str().unwrap().to_owned(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut want: Vec<(String, String)> = reports
            .iter()
            .map(|(r, s)| (r.clone(), (*s).to_owned()))
            .collect();
        let mut got = recorded.clone();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "reports of {target} lost or doubled: {recorded:?}"
        );
    }

    // The soak gate into internal opens 2 s after the last staging report; both servers'
    // timers race to promote. Wait for the promotion, then long enough for a second one.
    eventually(Duration::from_secs(30), "a promotion into internal", || {
        !promotions(&bare).is_empty()
    });
    // Each report that completed staging at another revision started its own soak: wait
    // until no promotion has come for 3 s.
    let mut seen = promotions(&bare);
    eventually(Duration::from_secs(60), "the promotions settle", || {
        thread::sleep(Duration::from_secs(3));
        let now = promotions(&bare);
        std::mem::replace(&mut seen, now.clone()) == now
    });
    // The replicas' own counts first: every promote commit one of them pushed must be on the
    // branch (nothing is force-pushed), so a double promotion cannot hide behind a late read.
    let mut retried_pushes = 0.0;
    let mut promote_commits = Vec::new();
    for server in &servers {
        let text = get(&server.at("/metrics")).text;
        retried_pushes += metric(&text, "cfgupdate_push_retries_total{git_ref=\"branch\"}")
            + metric(&text, "cfgupdate_push_retries_total{git_ref=\"state\"}");
        promote_commits.push(metric(&text, "cfgupdate_commits_total{action=\"promote\"}"));
    }
    let promoted = promotions(&bare);
    // Two replicas promoting off the same tip in the same second make the very same commit
    // (same parent, tree, message and time), and the second push finds it there already: both
    // count it, the branch has it once. So the check is on commit ids: every promote commit a
    // replica logged is on the branch.
    for server in &servers {
        // A report recorded after the promotion says "already promoted" in its reason, with
        // no commit: only lines that name a commit are promotions.
        for line in server
            .log()
            .lines()
            .filter(|l| l.contains("promoted") && l.contains("commit="))
        {
            let commit = line
                .split_whitespace()
                .find_map(|word| word.strip_prefix("commit="))
                .unwrap_or_else(|| panic!("no commit in {line}"));
            let on_branch =
                cfgupdate_tests::try_git(&bare, &["merge-base", "--is-ancestor", commit, "master"]);
            assert!(
                on_branch.status.success(),
                "a replica logged the promotion {commit}, which is not on the branch: {line}"
            );
        }
    }
    let unique: BTreeSet<&(String, String)> = promoted.iter().collect();
    assert_eq!(
        unique.len(),
        promoted.len(),
        "the same wave and source revision promoted twice: {promoted:?}"
    );
    assert!(
        promoted.iter().all(|(wave, _)| wave == "internal"),
        "{promoted:?}"
    );
    assert_fsck_clean(&bare);

    eprintln!(
        "two replicas: 40 announcements and 15 reports in {burst:?}; answers {results:?}; {refused} answered 503 and retried; \
         {retried_pushes} pushes rejected and redone on the new tip; promotions {promoted:?} (pushed by the replicas: {promote_commits:?})"
    );
}
