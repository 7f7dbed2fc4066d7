//! `cfgupdate serve` killed with SIGKILL at a random moment of a burst of announcements and
//! deploy reports, run after run on the same cache: every change answered 200 is on the
//! remote, the remote stays a clean repository, the next start repairs the cache, and sending
//! everything again duplicates nothing.
//!
//! `CFGUPDATE_FAULT_SEED` picks another sequence of delays; `CFGUPDATE_FAULT_RUNS` (default
//! 10) sets how many kills.

use crate::serve_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use cfgupdate_tests::Rng;
use cfgupdate_tests::{GitDaemon, git};
use serde_json::json;
use serve_support::faults::*;
use serve_support::*;

const TARGETS: [&str; 3] = ["staging-us", "staging-eu", "internal"];
const STATUSES: [&str; 2] = ["succeeded", "failed"];

#[derive(Clone, Debug)]
enum Request {
    Announce {
        i: usize,
        service: &'static str,
    },
    Report {
        target: &'static str,
        revision: String,
        status: &'static str,
    },
}

impl Request {
    fn path(&self) -> &'static str {
        match self {
            Request::Announce { .. } => "/v1/images",
            Request::Report { .. } => "/v1/deployments",
        }
    }

    fn token(&self) -> &'static str {
        match self {
            Request::Announce { .. } => CI_TOKEN,
            Request::Report { .. } => DEPLOY_TOKEN,
        }
    }

    fn body(&self) -> String {
        match self {
            Request::Announce { i, service } => announcement(*i, service),
            Request::Report {
                target,
                revision,
                status,
            } => json!({"target": target, "revision": revision, "status": status}).to_string(),
        }
    }

    /// Whether the remote shows it.
    fn is_on_remote(&self, bare: &Path) -> bool {
        match self {
            Request::Announce { i, .. } => {
                trailer_values(bare, "Cfgupdate-App-Commit").contains(&app(*i))
            }
            Request::Report {
                target,
                revision,
                status,
            } => state_document(bare)["reports"][target]
                .as_array()
                .is_some_and(|reports| {
                    reports
                        .iter()
                        .any(|r| r["revision"] == *revision && r["status"] == *status)
                }),
        }
    }
}

/// What became of one request of a burst.
enum Fate {
    Acknowledged,
    Refused(u16, String),
    /// No answer: the process died first.
    Unanswered,
}

/// No app commit published twice, no wave and source revision promoted twice, `git fsck
/// --strict` clean. (A promotion names the app commits of the images it moves again: only
/// publish commits count for the first.)
fn assert_no_duplicates(bare: &Path) {
    let format = "--format=%(trailers:key=Cfgupdate-Action,valueonly,separator=%x2C)|%(trailers:key=Cfgupdate-App-Commit,valueonly,separator=%x2C)";
    let trailers: Vec<String> = git(bare, &["log", format, "master"])
        .lines()
        .filter_map(|line| line.split_once('|'))
        .filter(|(action, _)| action.trim() == "publish")
        .flat_map(|(_, apps)| apps.split(',').map(|app| app.trim().to_owned()))
        .filter(|app| !app.is_empty())
        .collect();
    let unique: BTreeSet<&String> = trailers.iter().collect();
    assert_eq!(
        unique.len(),
        trailers.len(),
        "an announcement landed twice: {trailers:?}"
    );
    let promoted = promotions(bare);
    let unique: BTreeSet<&(String, String)> = promoted.iter().collect();
    assert_eq!(unique.len(), promoted.len(), "promoted twice: {promoted:?}");
    assert_fsck_clean(bare);
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_change_and_a_restart_repairs_the_cache() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let cache = dir.path().join("cache");
    let runs: usize = std::env::var("CFGUPDATE_FAULT_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let (mut rng, seed) = Rng::from_env("CFGUPDATE_FAULT_SEED", 20_260_501);
    let started = Instant::now();
    let mut previous: Vec<(Request, bool)> = Vec::new();
    let (mut acknowledged, mut unanswered, mut landed_unanswered, mut refused) = (0, 0, 0, 0);
    let mut kills_before_any_answer = 0;
    for run in 0..=runs {
        // Start again on the cache the kill left behind: it must be repaired and serve.
        let mut server = Server::start(Options {
            repo: &url,
            cache: &cache,
            log: dir.path().join(format!("run{run}.log")),
            env: all_credentials(),
            args: vec![],
        });

        // Everything of the last burst again: all of it lands, the acknowledged part only once.
        for (request, was_acknowledged) in &previous {
            let mut answer = post_as(&server.at(request.path()), request.token(), &request.body());
            for _ in 0..10 {
                if answer.status != 503 {
                    break;
                }
                thread::sleep(Duration::from_millis(300));
                answer = post_as(&server.at(request.path()), request.token(), &request.body());
            }
            assert_eq!(
                answer.status,
                200,
                "run {run}, resending {request:?}: {}\n{}",
                answer.text,
                server.log()
            );
            if let Request::Announce { i, .. } = request
                && *was_acknowledged
            {
                assert_eq!(
                    answer.json()["result"],
                    "unchanged",
                    "announcement {i} was acknowledged before the kill, and published again"
                );
            }
            assert!(
                request.is_on_remote(&bare),
                "run {run}: {request:?} resent but not on the remote"
            );
        }
        assert_no_duplicates(&bare);
        if run == runs {
            break;
        }

        // A burst: ten announcements and four reports (on recent revisions of the branch),
        // each after a random delay; the kill comes at a random moment among them.
        let recent: Vec<String> = git(&bare, &["rev-list", "--max-count=4", "master"])
            .lines()
            .map(str::to_owned)
            .collect();
        let mut burst: Vec<(Request, Duration)> = (0..10)
            .map(|k| {
                let request = Request::Announce {
                    i: 1000 * (run + 1) + k,
                    service: SERVICES[rng.below(4)],
                };
                (request, rng.millis(0, 800))
            })
            .collect();
        let mut reported = BTreeSet::new();
        // At first the branch has a single commit: three distinct reports at most.
        while reported.len() < 4.min(TARGETS.len() * recent.len()) {
            let target = TARGETS[rng.below(3)];
            let revision = recent[rng.below(recent.len())].clone();
            if reported.insert((target, revision.clone())) {
                let status = STATUSES[usize::from(rng.below(4) == 0)];
                let request = Request::Report {
                    target,
                    revision,
                    status,
                };
                burst.push((request, rng.millis(0, 800)));
            }
        }
        let kill_at = rng.millis(150, 1200);
        let sent_at = Instant::now();
        let calls: Vec<_> = burst
            .iter()
            .cloned()
            .map(|(request, delay)| {
                let base = server.url.clone();
                thread::spawn(move || {
                    thread::sleep(delay);
                    let bearer = format!("Bearer {}", request.token());
                    let url = format!("{base}{}", request.path());
                    match try_post(&url, &[("Authorization", &bearer)], &request.body()) {
                        Ok(response) => {
                            let answer = into_answer(Ok(response));
                            if answer.status == 200 {
                                Fate::Acknowledged
                            } else {
                                Fate::Refused(answer.status, answer.text)
                            }
                        }
                        Err(_) => Fate::Unanswered,
                    }
                })
            })
            .collect();
        thread::sleep(kill_at.saturating_sub(sent_at.elapsed()));
        server.kill();
        let mut this_run = Vec::new();
        let mut answered = 0;
        for ((request, _), call) in burst.into_iter().zip(calls) {
            let on_remote = request.is_on_remote(&bare);
            let was_acknowledged = match call.join().unwrap() {
                Fate::Acknowledged => {
                    assert!(
                        on_remote,
                        "run {run} (seed {seed}): {request:?} was answered 200 but is not on the remote"
                    );
                    acknowledged += 1;
                    answered += 1;
                    true
                }
                Fate::Refused(status, text) => {
                    // Only "try again" is acceptable for a valid request, and then it was
                    // not done.
                    assert_eq!(status, 503, "run {run}: {request:?}: {text}");
                    refused += 1;
                    answered += 1;
                    false
                }
                Fate::Unanswered => {
                    unanswered += 1;
                    landed_unanswered += usize::from(on_remote);
                    false
                }
            };
            this_run.push((request, was_acknowledged));
        }
        kills_before_any_answer += usize::from(answered == 0);
        assert_no_duplicates(&bare);
        previous = this_run;
    }
    eprintln!(
        "{runs} SIGKILLs (seed {seed}) in {:?}: {acknowledged} requests acknowledged (all on the remote), {refused} answered 503, \
         {unanswered} cut off without an answer ({landed_unanswered} of those had landed all the same); \
         {kills_before_any_answer} kills came before any answer; every restart repaired its cache and every resend duplicated nothing",
        started.elapsed()
    );
}
