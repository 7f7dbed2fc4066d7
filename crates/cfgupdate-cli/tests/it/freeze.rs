//! Freeze windows through the real binary against a real `git daemon`
//! (docs/promotion.md#freeze-windows): `cfgupdate publish` into a frozen first wave answers
//! `deferred until <time>` and exits 0, an override writes with `Cfgupdate-Override: freeze`,
//! and `cfgupdate serve` answers 202 and publishes the deferred images itself when the window
//! ends.

use crate::notifications::{Answers, Sink, event_of};
use crate::serve_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use cfgupdate_tests::{GitDaemon, git};
use serde_json::json;
use serve_support::*;

/// The service's files, with a freeze window on staging (the first wave) ending at `to`.
fn frozen_files(to: &str) -> Vec<(String, String)> {
    let mut files = files();
    let window = format!(
        "targets = [\"staging-us\", \"staging-eu\"]\nfreeze = [\n  {{ from = \"2000-01-01T00:00:00Z\", to = \"{to}\", reason = \"release freeze\" }},\n]\n"
    );
    files[0].1 = files[0]
        .1
        .replacen("targets = [\"staging-us\", \"staging-eu\"]\n", &window, 1);
    assert!(files[0].1.contains("release freeze"));
    files
}

fn cfgupdate(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .env("CFGUPDATE_CACHE_DIR", cache)
        .env_remove("CFGUPDATE_STATE_KEY")
        .output()
        .expect("the binary runs")
}

fn publish_args<'a>(url: &'a str, app: &'a str, image: &'a str) -> Vec<&'a str> {
    vec![
        "publish",
        "--repo",
        url,
        "--app-commit",
        app,
        "--image",
        image,
    ]
}

#[test]
fn publish_into_a_frozen_first_wave_is_deferred_with_exit_0_and_an_override_writes_the_trailer() {
    let daemon = GitDaemon::start().unwrap();
    let files = frozen_files("2100-01-01T00:00:00Z");
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let url = daemon.url("config.git");
    let cache = tempfile::tempdir().unwrap();
    let before = subjects(&bare);

    let (app1, image1) = (app(1), format!("api={}", reference("api", 1)));
    let output = cfgupdate(&publish_args(&url, &app1, &image1), cache.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "deferred until 2100-01-01T00:00:00Z\n"
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("release freeze"), "{said}");
    assert_eq!(subjects(&bare), before, "nothing is written while frozen");

    // status shows the freeze and what it deferred, in text and JSON.
    let status = cfgupdate(&["status", "--repo", &url], cache.path());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("frozen until 2100-01-01T00:00:00Z (release freeze)"),
        "{text}"
    );
    assert!(text.contains("deferred from app 000000000000"), "{text}");
    let status = cfgupdate(&["status", "--repo", &url, "--json"], cache.path());
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        json["waves"][0]["frozen"],
        json!({ "until": "2100-01-01T00:00:00Z", "reason": "release freeze" })
    );
    assert_eq!(json["waves"][0]["deferred"][0]["app_commit"], json!(app1));

    // An admin's override writes now, with the trailer.
    let (app2, image2) = (app(2), format!("web={}", reference("web", 2)));
    let mut args = publish_args(&url, &app2, &image2);
    args.push("--override-freeze");
    let output = cfgupdate(&args, cache.path());
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let commit = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(commit.len(), 40, "{output:?}");
    assert_eq!(trailer_values(&bare, "Cfgupdate-Override"), ["freeze"]);
    assert_eq!(subjects(&bare).len(), before.len() + 1);
}

/// The end of a window `span` from now, as the config writes it, and as a time.
fn window_ending_in(span: Duration) -> (String, SystemTime) {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds) + span;
    (cfgupdate_core::freeze::rfc3339(end), end)
}

/// Runs `attempt` with windows ending ever later until the steps it takes while frozen were all
/// done before the window ended. On a loaded machine, starting servers can outlast a short
/// window; a result that differs while the window was certainly still open fails the test,
/// because `attempt` asserts on what it saw once the window is known to have been open.
fn with_a_window_that_outlasts_the_setup(attempt: impl Fn(&str, SystemTime) -> bool) {
    for span in [8, 30, 120] {
        let (end, at) = window_ending_in(Duration::from_secs(span));
        if attempt(&end, at) {
            return;
        }
        eprintln!("the window of {span} s ended before the frozen steps were done; longer");
    }
    panic!("even a window of 120 s ended before the frozen steps were done");
}

#[test]
fn the_service_answers_202_and_publishes_what_it_deferred_when_the_window_ends() {
    with_a_window_that_outlasts_the_setup(|end, at| {
        let daemon = GitDaemon::start().unwrap();
        let files = frozen_files(end);
        let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
        let dir = tempfile::tempdir().unwrap();
        let url = daemon.url("config.git");
        let webhook = Sink::start(Answers::FailFirst(0));
        let mut env = all_credentials();
        env.push(("CFGUPDATE_NOTIFY_URLS", webhook.url("/hook")));
        let server = Server::start(Options {
            repo: &url,
            cache: &dir.path().join("cache"),
            log: dir.path().join("serve.log"),
            env,
            args: vec![],
        });
        let images = server.at("/v1/images");
        let before = subjects(&bare);

        let first = post_as(&images, CI_TOKEN, &announcement(3, "api"));
        // A newer image of the same service replaces it; the same again changes nothing.
        let newer = post_as(&images, CI_TOKEN, &announcement(4, "api"));
        let again = post_as(&images, CI_TOKEN, &announcement(4, "api"));
        let written_while_frozen = subjects(&bare);
        // Writing through the freeze is an admin's decision.
        let mut body: serde_json::Value = serde_json::from_str(&announcement(5, "web")).unwrap();
        body["override_freeze"] = json!(true);
        let overriding = post_as(&images, CI_TOKEN, &body.to_string());
        if SystemTime::now() >= at {
            return false;
        }
        assert_eq!(first.status, 202, "{first:?}");
        assert_eq!(
            first.json(),
            json!({ "result": "deferred", "until": end, "reason": "release freeze" })
        );
        assert_eq!(newer.status, 202, "{newer:?}");
        assert_eq!(again.status, 202, "{again:?}");
        assert_eq!(
            written_while_frozen, before,
            "nothing is written while frozen"
        );
        assert_eq!(overriding.status, 403, "{overriding:?}");
        assert!(
            overriding.error().contains("scope `admin`"),
            "{overriding:?}"
        );

        // When the window ends, the service's own timer publishes the newest deferred image.
        eventually(Duration::from_secs(180), "the deferred publish", || {
            subjects(&bare).len() > before.len()
        });
        let apps = trailer_values(&bare, "Cfgupdate-App-Commit");
        assert!(apps.contains(&app(4)), "{apps:?}\n{}", server.log());
        // The newest deferred image is what the wave holds.
        let images = cfgupdate_tests::git(&bare, &["show", "master:envs/staging/images.libsonnet"]);
        assert!(images.contains(&reference("api", 4)), "{images}");
        assert!(!images.contains(&reference("api", 3)), "{images}");
        assert!(trailer_values(&bare, "Cfgupdate-Override").is_empty());
        // Subscribers hear of it: a `published` event for the commit, with what it wrote.
        let tip = git(&bare, &["rev-parse", "master"]).trim().to_owned();
        let published = webhook
            .wait_for("`published`", |r| event_of(r) == "published")
            .json();
        assert_eq!(published["commit"], json!(tip), "{published}");
        assert_eq!(published["wave"], "staging");
        assert_eq!(published["images"]["api"], json!(reference("api", 4)));
        eventually(
            Duration::from_secs(30),
            "status without deferred images",
            || get(&server.at("/v1/status")).json()["waves"][0]["deferred"].is_null(),
        );
        true
    });
}

#[test]
fn cfgupdate_advance_publishes_what_a_freeze_deferred_once_the_window_ended() {
    with_a_window_that_outlasts_the_setup(|end, at| {
        let daemon = GitDaemon::start().unwrap();
        let files = frozen_files(end);
        let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
        let url = daemon.url("config.git");
        let cache = tempfile::tempdir().unwrap();
        let (app1, image1) = (app(1), format!("api={}", reference("api", 1)));
        let published = cfgupdate(&publish_args(&url, &app1, &image1), cache.path());
        let before = subjects(&bare);
        // Still frozen: nothing is due, and it says until when.
        let early = cfgupdate(&["advance", "--repo", &url], cache.path());
        let written_while_frozen = subjects(&bare);
        if SystemTime::now() >= at {
            return false;
        }
        assert_eq!(
            String::from_utf8_lossy(&published.stdout),
            format!("deferred until {end}\n"),
            "{published:?}"
        );
        assert!(early.status.success(), "{early:?}");
        assert_eq!(String::from_utf8_lossy(&early.stdout), "unchanged\n");
        assert!(
            String::from_utf8_lossy(&early.stderr).contains("stay deferred"),
            "{early:?}"
        );
        assert_eq!(written_while_frozen, before);

        // After the window: cron's next `advance` publishes it, one publish commit.
        if let Ok(left) = at.duration_since(SystemTime::now()) {
            std::thread::sleep(left + Duration::from_secs(1));
        }
        let output = cfgupdate(&["advance", "--repo", &url], cache.path());
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert_eq!(printed.len(), 40, "{output:?}");
        let staging = git(&bare, &["show", "master:envs/staging/images.libsonnet"]);
        assert!(staging.contains(&reference("api", 1)), "{staging}");
        assert_eq!(git(&bare, &["rev-parse", "master"]).trim(), printed);
        true
    });
}
