//! The remote goes away for a while and comes back on the same port: while it is gone every
//! write is answered 503 with `Retry-After` and nothing is half-done, `/readyz` says so, and
//! once it is back the same process serves again without a restart.

use crate::serve_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cfgupdate_tests::git;
use serde_json::json;
use serve_support::faults::*;
use serve_support::*;

#[test]
fn while_the_remote_is_down_writes_get_503_and_change_nothing_and_the_service_recovers_without_a_restart()
 {
    let mut daemon = cfgupdate_tests::GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    // A short advance interval: the service notices the remote's return on its own, without
    // a request, within about this long.
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec!["--advance-interval", "2s"],
    });
    let images = server.at("/v1/images");
    let deployments = server.at("/v1/deployments");

    // Up: a commit and a report, so that both the branch and the state ref exist.
    let first = post_as(&images, CI_TOKEN, &announcement(1, "api"));
    assert_eq!(first.status, 200, "{}", first.text);
    let c1 = first.json()["commit"].as_str().unwrap().to_owned();
    let report = |target: &str, revision: &str| {
        json!({"target": target, "revision": revision, "status": "succeeded"}).to_string()
    };
    let recorded = post_as(&deployments, DEPLOY_TOKEN, &report("staging-us", &c1));
    assert_eq!(recorded.status, 200, "{}", recorded.text);
    assert_eq!(get(&server.at("/readyz")).status, 200);
    let before = refs(&bare);
    assert!(
        before.contains("refs/cfgupdate/state/master"),
        "no state ref: {before}"
    );

    // Down.
    daemon.stop().unwrap();
    let down = Instant::now();
    let mut refused = 0;
    let mut check_503 = |what: &str, answer: Answer| {
        assert_eq!(answer.status, 503, "{what}: {}", answer.text);
        let retry: u64 = answer
            .header("retry-after")
            .unwrap_or_else(|| panic!("{what}: 503 without Retry-After"))
            .parse()
            .unwrap();
        assert!(retry >= 1, "{what}: Retry-After {retry}");
        let sentence = answer.error();
        assert!(
            sentence.contains("127.0.0.1") || sentence.to_lowercase().contains("remote"),
            "{what}: the error does not say the remote is unreachable: {sentence}"
        );
        refused += 1;
    };
    let outage_apps: Vec<usize> = (10..15).collect();
    for &i in &outage_apps {
        check_503(
            &format!("announcement {i}"),
            post_as(&images, CI_TOKEN, &announcement(i, SERVICES[i % 4])),
        );
    }
    check_503(
        "report staging-eu",
        post_as(&deployments, DEPLOY_TOKEN, &report("staging-eu", &c1)),
    );
    check_503(
        "report internal",
        post_as(&deployments, DEPLOY_TOKEN, &report("internal", &c1)),
    );
    check_503(
        "approval",
        post_as(
            &server.at("/v1/approvals"),
            ADMIN_TOKEN,
            r#"{"wave": "production"}"#,
        ),
    );
    check_503("status", get(&server.at("/v1/status")));
    // It stays down for a while (longer than the advance interval, whose passes fail too):
    // every retry is refused the same way.
    let mut retries = 0;
    while down.elapsed() < Duration::from_secs(4) {
        let i = outage_apps[retries % outage_apps.len()];
        check_503(
            &format!("retried announcement {i}"),
            post_as(&images, CI_TOKEN, &announcement(i, SERVICES[i % 4])),
        );
        retries += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = get(&server.at("/readyz"));
    assert_eq!(
        ready.status, 503,
        "/readyz still says ready while every write fails: {}",
        ready.text
    );
    assert!(ready.header("retry-after").is_some());
    let readiness_sentence = ready.error();
    assert_eq!(get(&server.at("/healthz")).status, 200, "the process is up");
    assert_eq!(refs(&bare), before, "something was pushed while refused");

    // Back on the same port. The service notices on its own (its advance timer), then serves.
    let outage = down.elapsed();
    daemon.restart().unwrap();
    let back = Instant::now();
    eventually(Duration::from_secs(30), "/readyz is 200 again", || {
        get(&server.at("/readyz")).status == 200
    });
    let ready_again = back.elapsed();
    // Nothing refused was kept to be pushed later: the state and branch are as they were.
    assert_eq!(
        refs(&bare),
        before,
        "a write answered 503 was pushed later after all"
    );
    let published: BTreeSet<String> = trailer_values(&bare, "Cfgupdate-App-Commit")
        .into_iter()
        .collect();
    for &i in &outage_apps {
        assert!(
            !published.contains(&app(i)),
            "announcement {i} was answered 503 but landed"
        );
    }

    // The retries land, each as new work (nothing was half-done before).
    for &i in &outage_apps {
        let answer = post_as(&images, CI_TOKEN, &announcement(i, SERVICES[i % 4]));
        assert_eq!(answer.status, 200, "announcement {i}: {}", answer.text);
        assert_eq!(answer.json()["result"], "committed", "{}", answer.text);
    }
    let first_write = back.elapsed();
    let answer = post_as(&deployments, DEPLOY_TOKEN, &report("staging-eu", &c1));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let trailers = trailer_values(&bare, "Cfgupdate-App-Commit");
    let expected: BTreeSet<String> = std::iter::once(1)
        .chain(outage_apps.clone())
        .map(app)
        .collect();
    assert_eq!(trailers.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(trailers.len(), expected.len(), "{trailers:?}");
    let state = state_document(&bare);
    assert_eq!(state["reports"]["staging-eu"][0]["revision"], c1, "{state}");
    assert_eq!(state["reports"]["staging-us"].as_array().unwrap().len(), 1);
    assert_eq!(get(&server.at("/readyz")).status, 200);
    assert_eq!(get(&server.at("/v1/status")).status, 200);
    assert_fsck_clean(&bare);
    let head = git(&bare, &["rev-parse", "master"]);
    assert!(!head.is_empty());
    eprintln!(
        "remote down {outage:?}: {refused} requests answered 503 with Retry-After, /readyz 503 ({readiness_sentence}); \
         back: /readyz 200 after {ready_again:?} without a request, {} retried announcements and a report landed {first_write:?} after the restart of the daemon",
        outage_apps.len()
    );
}
