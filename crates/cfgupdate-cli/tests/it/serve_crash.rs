//! `cfgupdate serve` stopped in the middle of a burst: by SIGKILL (no chance to finish
//! anything) and by SIGTERM (finish what is in flight). No acknowledged announcement is ever
//! lost, and the remote stays a clean repository.

use crate::serve_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use cfgupdate_tests::{GitDaemon, try_git};
use serve_support::*;

/// What became of one announcement.
enum Fate {
    Answered(u16, String),
    /// No answer: the connection failed or was cut.
    Lost(String),
}

/// Sends announcements `range` at once, each from its own thread, after `delay(i)`.
/// Counts the answers as they come.
fn burst(
    url: &str,
    range: std::ops::RangeInclusive<usize>,
    delay: fn(usize) -> Duration,
    answers: Arc<AtomicUsize>,
) -> Vec<thread::JoinHandle<(usize, Fate)>> {
    let barrier = Arc::new(Barrier::new(range.clone().count()));
    range
        .map(|i| {
            let barrier = barrier.clone();
            let url = url.to_owned();
            let answers = answers.clone();
            thread::spawn(move || {
                barrier.wait();
                thread::sleep(delay(i));
                let bearer = format!("Bearer {CI_TOKEN}");
                let body = announcement(i, SERVICES[i % SERVICES.len()]);
                let fate = match try_post(&url, &[("Authorization", &bearer)], &body) {
                    Ok(response) => {
                        let answer = into_answer(Ok(response));
                        answers.fetch_add(1, Ordering::SeqCst);
                        Fate::Answered(answer.status, answer.text)
                    }
                    Err(error) => Fate::Lost(error.to_string()),
                };
                (i, fate)
            })
        })
        .collect()
}

fn assert_clean(bare: &Path) {
    let fsck = try_git(bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "git fsck --strict: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

fn published(bare: &Path) -> Vec<String> {
    trailer_values(bare, "Cfgupdate-App-Commit")
}

#[test]
fn announcements_answered_200_survive_a_sigkill_mid_burst_and_the_rest_land_after_restart() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let cache = dir.path().join("cache");
    let start = |name: &str| {
        Server::start(Options {
            repo: &url,
            cache: &cache,
            log: dir.path().join(format!("{name}.log")),
            env: all_credentials(),
            args: vec![],
        })
    };
    let mut server = start("first");
    let total = 30;
    // Spread over a few seconds; the kill comes once a few were answered, while the others
    // are queued or being pushed. The last ones start seconds later, so that a loaded machine
    // (whose test thread may look late) still kills before the burst is over.
    let answers = Arc::new(AtomicUsize::new(0));
    let calls = burst(
        &server.at("/v1/images"),
        1..=total,
        |i| {
            let i = i as u64;
            Duration::from_millis(if i <= 12 { 25 * i } else { 5_000 + 25 * i })
        },
        answers.clone(),
    );
    eventually(Duration::from_secs(60), "a few answers", || {
        answers.load(Ordering::SeqCst) >= 8
    });
    server.kill();
    let mut answered = BTreeSet::new();
    let mut lost = BTreeSet::new();
    for call in calls {
        match call.join().unwrap() {
            (i, Fate::Answered(200, _)) => {
                answered.insert(i);
            }
            (i, Fate::Answered(status, text)) => panic!("announcement {i}: {status} {text}"),
            (i, Fate::Lost(_)) => {
                lost.insert(i);
            }
        }
    }
    let on_remote: BTreeSet<String> = published(&bare).into_iter().collect();
    eprintln!(
        "SIGKILL mid-burst: {} answered 200, {} without an answer ({} of those on the remote all the same)",
        answered.len(),
        lost.len(),
        lost.iter()
            .filter(|i| on_remote.contains(&app(**i)))
            .count()
    );
    assert!(!answered.is_empty(), "the kill came before any answer");
    assert!(!lost.is_empty(), "the kill came after the burst");
    for i in &answered {
        assert!(
            on_remote.contains(&app(*i)),
            "announcement {i} was answered 200 but is not on the remote"
        );
    }
    assert_clean(&bare);

    // Restarted on the same cache, the service takes the retries: each lands exactly once.
    let server = start("second");
    for i in 1..=total {
        let answer = post_as(
            &server.at("/v1/images"),
            CI_TOKEN,
            &announcement(i, SERVICES[i % SERVICES.len()]),
        );
        assert_eq!(answer.status, 200, "announcement {i}: {}", answer.text);
        let result = answer.json()["result"].as_str().unwrap().to_owned();
        if answered.contains(&i) {
            assert_eq!(result, "unchanged", "announcement {i} was published twice");
        }
    }
    let trailers = published(&bare);
    let unique: BTreeSet<&String> = trailers.iter().collect();
    assert_eq!(unique.len(), total, "{trailers:?}");
    assert_eq!(
        trailers.len(),
        total,
        "an app commit was published twice: {trailers:?}"
    );
    assert_clean(&bare);
}

#[test]
fn sigterm_mid_burst_answers_every_request_in_flight_and_exits_cleanly() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let mut server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let calls = burst(
        &server.at("/v1/images"),
        1..=20,
        |_| Duration::ZERO,
        Arc::new(AtomicUsize::new(0)),
    );
    thread::sleep(Duration::from_millis(150));
    let status = server.terminate();
    assert!(
        status.success(),
        "serve exited with {status}:\n{}",
        server.log()
    );
    let on_remote: BTreeSet<String> = published(&bare).into_iter().collect();
    let mut answered = 0;
    for call in calls {
        match call.join().unwrap() {
            (i, Fate::Answered(200, _)) => {
                answered += 1;
                assert!(
                    on_remote.contains(&app(i)),
                    "announcement {i} answered but not on the remote"
                );
            }
            (i, Fate::Answered(status, text)) => panic!("announcement {i}: {status} {text}"),
            // Arrived after the listener closed (refused), still in the kernel's accept queue
            // when it closed (reset), or accepted but not yet read when the idle connections
            // were closed (on a loaded machine: closed, or a broken pipe while still writing):
            // nothing of it happened. Never cut off after its change was made.
            (i, Fate::Lost(error)) => {
                assert!(
                    !on_remote.contains(&app(i)),
                    "announcement {i} was cut off after its change was made: {error}"
                );
            }
        }
    }
    assert!(answered > 0, "no request was in flight at SIGTERM");
    assert!(server.log().contains("shutting down"), "{}", server.log());
    assert_clean(&bare);
}
