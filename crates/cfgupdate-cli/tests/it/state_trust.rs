//! State only cfgupdate can write (docs/promotion.md#state-only-cfgupdate-can-write), against a
//! real `git daemon`: a person who can push to the config repository forges state documents and
//! trailers with the git CLI; cfgupdate (the service and the CLI) acts on none of it, says so,
//! and works again after `cfgupdate state reset`.

use crate::serve_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cfgupdate_tests::{GitDaemon, Person, git};
use serde_json::{Value, json};
use serve_support::*;

const KEY: &str = "the state key of the state_trust tests";
const STATE_REF: &str = "refs/cfgupdate/state/master";

/// Runs the binary with the state key (when `key`), its own cache, and `args`.
fn cli(url: &str, key: bool, args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
    command
        .args(args)
        .args(["--repo", url])
        .env("CFGUPDATE_CACHE_DIR", cache.path())
        .env_remove("CFGUPDATE_STATE_KEY")
        .env_remove("CFGUPDATE_STATE_KEY_FILE");
    if key {
        command.env("CFGUPDATE_STATE_KEY", KEY);
    }
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The person edits the state document on the state ref and pushes it (a plain push).
fn forge_state(person: &Person, edit: impl FnOnce(&mut Value)) {
    person.git(&[
        "fetch",
        "--quiet",
        "origin",
        &format!("+{STATE_REF}:refs/forge"),
    ]);
    person.git(&["checkout", "--quiet", "refs/forge"]);
    let path = person.dir().join("state.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    person.git(&["commit", "--quiet", "-am", "Approve production myself"]);
    person.git(&["push", "--quiet", "origin", &format!("HEAD:{STATE_REF}")]);
    person.git(&["checkout", "--quiet", "master"]);
}

fn head_trailers(bare: &Path) -> String {
    git(bare, &["log", "-1", "--format=%(trailers)", "master"])
}

#[test]
fn the_service_acts_on_nothing_a_person_pushed_and_works_again_after_state_reset() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let mut env = all_credentials();
    env.push(("CFGUPDATE_STATE_KEY", KEY.into()));
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec!["--advance-interval", "1s"],
    });
    let images = server.at("/v1/images");
    let announce = |i: usize, build: u64| {
        let body = json!({ "app_commit": app(i), "images": { "api": reference("api", i) }, "build": { "number": build } });
        post_as(&images, CI_TOKEN, &body.to_string())
    };
    let report = |target: &str, revision: &str| {
        let body = json!({ "target": target, "revision": revision, "status": "succeeded" });
        post_as(
            &server.at("/v1/deployments"),
            DEPLOY_TOKEN,
            &body.to_string(),
        )
    };
    let answer = announce(1, 5);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(head_trailers(&bare).contains("Cfgupdate-Seal: "));

    // A forged empty commit claims a huge build: it decides nothing.
    let mallory = Person::clone(&url, "master", "Mallory");
    let forged = format!(
        "Bump\n\nCfgupdate-Action: publish\nCfgupdate-Wave: staging\nCfgupdate-App-Commit: {}\nCfgupdate-Image: api={} {}\nCfgupdate-Build: api number=999999999",
        app(9),
        reference("api", 9),
        app(9)
    );
    mallory.git(&["commit", "--quiet", "--allow-empty", "-m", &forged]);
    mallory.push();
    let answer = announce(2, 6);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let c2 = answer.json()["commit"].as_str().unwrap().to_owned();
    let answer = announce(3, 4);
    assert_eq!(
        answer.status, 409,
        "a real publish of build 6 still counts: {}",
        answer.text
    );

    // Staging deploys, the soak timer promotes into internal, internal deploys: production
    // waits for approval.
    assert_eq!(report("staging-us", &c2).status, 200);
    assert_eq!(report("staging-eu", &c2).status, 200);
    let internal = || git(&bare, &["show", "master:images/internal.json"]);
    eventually(Duration::from_secs(30), "the soak timer promotes", || {
        internal().contains(&reference("api", 2))
    });
    let p1 = git(&bare, &["rev-parse", "master"]).trim().to_owned();
    let answer = report("internal", &p1);
    assert_eq!(answer.json()["gate"], "approval", "{}", answer.text);

    // Mallory approves production in the state document, with a plain push.
    let status = get(&server.at("/v1/status")).json();
    let waiting = status["waves"][1]["promotion"].clone();
    mallory.pull();
    forge_state(&mallory, |doc| {
        doc["approvals"]["production"] = json!([{
            "images": waiting["images"], "source_revision": waiting["source_revision"], "at": 1, "by": "mallory"
        }]);
    });
    let forged_state = git(&bare, &["rev-parse", STATE_REF]).trim().to_owned();
    // The service's timer runs several times: production does not move, and it says why.
    let tags = || git(&bare, &["show", "master:images/prod/tags.json"]);
    eventually(
        Duration::from_secs(30),
        "/readyz names the state problem",
        || {
            get(&server.at("/readyz"))
                .text
                .contains("not written by cfgupdate")
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(!tags().contains(&app(2)), "{}", tags());
    let status = get(&server.at("/v1/status"));
    assert_eq!(status.status, 200, "{}", status.text);
    let problem = status.json()["state"]["problem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(problem.contains("state reset"), "{problem}");
    let answer = report("internal", &p1);
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(answer.error().contains("state reset"), "{}", answer.text);
    let answer = post_as(
        &server.at("/v1/approvals"),
        ADMIN_TOKEN,
        r#"{"wave": "production"}"#,
    );
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(git(&bare, &["rev-parse", STATE_REF]).trim(), forged_state);
    assert!(!tags().contains(&app(2)));

    // Without the key, reset is refused; with it, a fresh state, and everything works again.
    let output = cli(&url, false, &["state", "reset"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let output = cli(&url, true, &["state", "reset"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let fresh = text(&output.stdout).trim().to_owned();
    assert_eq!(git(&bare, &["rev-parse", STATE_REF]).trim(), fresh);
    let answer = report("internal", &p1);
    assert_eq!(answer.json()["gate"], "approval", "{}", answer.text);
    let answer = post_as(
        &server.at("/v1/approvals"),
        ADMIN_TOKEN,
        r#"{"wave": "production"}"#,
    );
    assert_eq!(answer.json()["result"], "promoted", "{}", answer.text);
    assert!(tags().contains(&app(2)), "{}", tags());
    let trailers = head_trailers(&bare);
    assert!(
        trailers.contains("Cfgupdate-Approved-By: ") && trailers.contains("Cfgupdate-Seal: "),
        "{trailers}"
    );
    // The protection survived the reset: build 4 is still stale.
    assert_eq!(announce(4, 4).status, 409);
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_state_ref_at_a_blob_or_deleted_is_named_and_state_reset_recovers() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let url = daemon.url("config.git");
    let published = cli(
        &url,
        true,
        &[
            "publish",
            "--app-commit",
            &app(1),
            "--image",
            &format!("api={}", reference("api", 1)),
        ],
    );
    assert!(published.status.success(), "{}", text(&published.stderr));
    let c1 = text(&published.stdout).trim().to_owned();
    let deployed = |target: &str| {
        cli(
            &url,
            true,
            &["deployed", "--target", target, "--revision", &c1],
        )
    };
    assert!(deployed("staging-us").status.success());

    // A blob where the state commit was.
    let person = Person::clone(&url, "master", "Pat");
    person.write("blob.txt", "not a state\n");
    let blob = person.git(&["hash-object", "-w", "blob.txt"]);
    person.git(&[
        "push",
        "--quiet",
        "--force",
        "origin",
        &format!("{blob}:{STATE_REF}"),
    ]);
    let output = deployed("staging-eu");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("blob") && stderr.contains("state reset"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\n') || stderr.lines().count() == 1,
        "{stderr}"
    );
    let status = cli(&url, true, &["status", "--json"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        json["state"]["problem"].as_str().unwrap().contains("blob"),
        "{json}"
    );

    // Deleted: refused as missing, since cfgupdate wrote to the branch before.
    person.git(&["push", "--quiet", "origin", &format!(":{STATE_REF}")]);
    let output = deployed("staging-eu");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("missing") && stderr.contains("state reset"),
        "{stderr}"
    );
    let tip = git(&bare, &["rev-parse", "master"]);

    let output = cli(&url, true, &["state", "reset"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(deployed("staging-us").status.success());
    // Both staging targets reported on the fresh state: the wave is complete, and its
    // promotion waits at internal's soak gate.
    let output = deployed("staging-eu");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("soak"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(git(&bare, &["rev-parse", "master"]), tip);
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn without_a_key_every_command_that_touches_the_state_warns_in_one_line() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    daemon.create_remote("config.git", "master", &file_refs(&files));
    let url = daemon.url("config.git");
    for args in [vec!["status"], vec!["history"]] {
        let output = cli(&url, false, &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let warnings: Vec<String> = text(&output.stderr)
            .lines()
            .filter(|l| l.contains("CFGUPDATE_STATE_KEY"))
            .map(str::to_owned)
            .collect();
        assert_eq!(warnings.len(), 1, "{args:?}: {warnings:?}");
        let output = cli(&url, true, &args);
        assert!(!text(&output.stderr).contains("not authenticated"));
    }
}

#[test]
fn a_cli_approval_names_its_approver_and_history_marks_what_cfgupdate_did_not_write() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let url = daemon.url("config.git");
    let ok = |args: &[&str]| {
        let output = cli(&url, true, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        (text(&output.stdout).trim().to_owned(), text(&output.stderr))
    };
    let (c1, _) = ok(&[
        "publish",
        "--app-commit",
        &app(1),
        "--image",
        &format!("api={}", reference("api", 1)),
    ]);
    ok(&["deployed", "--target", "staging-us", "--revision", &c1]);
    ok(&["deployed", "--target", "staging-eu", "--revision", &c1]);
    // Internal's soak is 2 s: a repeated report after it promotes (on a loaded machine the
    // commands themselves may take seconds, so the report is repeated until it does).
    let mut repeats = Vec::new();
    let p1 = loop {
        std::thread::sleep(Duration::from_millis(2200));
        let (out, stderr) = ok(&["deployed", "--target", "staging-eu", "--revision", &c1]);
        if out.len() == 40 {
            break out;
        }
        repeats.push(format!("{out}: {stderr}"));
        assert!(repeats.len() < 10, "never promoted: {repeats:#?}");
    };
    let (_, stderr) = ok(&["deployed", "--target", "internal", "--revision", &p1]);
    assert!(stderr.contains("approval"), "{stderr}");
    // A person's commit that looks like cfgupdate's.
    let person = Person::clone(&url, "master", "Pat");
    person.git(&[
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "Promote\n\nCfgupdate-Action: promote\nCfgupdate-Wave: production",
    ]);
    person.push();
    let (promoted, _) = ok(&["approve", "--wave", "production", "--by", "Alice Admin"]);
    assert_eq!(promoted.len(), 40, "{promoted}");
    assert!(
        head_trailers(&bare).contains("Cfgupdate-Approved-By: Alice Admin"),
        "{}",
        head_trailers(&bare)
    );
    let (history, _) = ok(&["history"]);
    assert!(history.contains("approved by Alice Admin"), "{history}");
    assert_eq!(
        history.matches("not written by cfgupdate").count(),
        1,
        "{history}"
    );
    // An identity that would break the trailer is refused before anything is done.
    let output = cli(
        &url,
        true,
        &["approve", "--wave", "production", "--by", "a\nb"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

#[test]
fn a_state_ref_forced_back_to_an_older_genuine_state_is_not_acted_on_until_state_reset() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let mut env = all_credentials();
    env.push(("CFGUPDATE_STATE_KEY", KEY.into()));
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec!["--advance-interval", "1s"],
    });
    let report = |target: &str, revision: &str, status: &str| {
        let body = json!({ "target": target, "revision": revision, "status": status });
        post_as(
            &server.at("/v1/deployments"),
            DEPLOY_TOKEN,
            &body.to_string(),
        )
    };
    let body = json!({ "app_commit": app(1), "images": { "api": reference("api", 1) } });
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    let c1 = answer.json()["commit"].as_str().unwrap().to_owned();

    // staging-eu first says succeeded, then failed: the wave is blocked.
    assert_eq!(report("staging-eu", &c1, "succeeded").status, 200);
    let succeeded = git(&bare, &["rev-parse", STATE_REF]).trim().to_owned();
    assert_eq!(report("staging-eu", &c1, "failed").status, 200);
    let failed = git(&bare, &["rev-parse", STATE_REF]).trim().to_owned();
    assert_ne!(succeeded, failed);

    // Mallory forces the state ref back to the genuine document that says "succeeded".
    let mallory = Person::clone(&url, "master", "Mallory");
    mallory.git(&[
        "fetch",
        "--quiet",
        "origin",
        &format!("{STATE_REF}:refs/old"),
    ]);
    mallory.git(&[
        "push",
        "--quiet",
        "--force",
        "origin",
        &format!("{succeeded}:{STATE_REF}"),
    ]);
    let internal = || git(&bare, &["show", "master:images/internal.json"]);
    let before = internal();

    // staging-us reports: on the old state the wave would be complete, and the soak timer
    // (2 s, checked every second) would promote. Refused, and said.
    let answer = report("staging-us", &c1, "succeeded");
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(
        answer.error().contains("moved the state ref back")
            && answer.error().contains("state reset"),
        "{}",
        answer.text
    );
    eventually(
        Duration::from_secs(30),
        "/readyz names the rewound state",
        || {
            get(&server.at("/readyz"))
                .text
                .contains("moved the state ref back")
        },
    );
    let status = get(&server.at("/v1/status"));
    assert_eq!(status.status, 200, "{}", status.text);
    assert!(
        status.json()["state"]["problem"]
            .as_str()
            .unwrap()
            .contains("moved the state ref back"),
        "{}",
        status.text
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(internal(), before, "nothing was promoted");
    assert_eq!(git(&bare, &["rev-parse", STATE_REF]).trim(), succeeded);

    // An admin resets from a machine whose cache never saw any of it; the service takes the
    // fresh state as newer, and it holds no reports: staging-us alone completes nothing.
    let output = cli(&url, true, &["state", "reset"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer = report("staging-us", &c1, "succeeded");
    assert_eq!(answer.status, 200, "{}", answer.text);
    eventually(
        Duration::from_secs(30),
        "/readyz no longer names it",
        || {
            !get(&server.at("/readyz"))
                .text
                .contains("moved the state ref back")
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(internal(), before, "one report does not complete the wave");
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_cli_with_an_empty_cache_refuses_a_state_older_than_the_branch_records() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let url = daemon.url("config.git");
    // Every `cli` call has a cache of its own, empty: no anchor to compare with.
    let ok = |args: &[&str]| {
        let output = cli(&url, true, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout).trim().to_owned()
    };
    let publish = |i: usize, service: &str| {
        ok(&[
            "publish",
            "--app-commit",
            &app(i),
            "--image",
            &format!("{service}={}", reference(service, i)),
        ])
    };
    let c1 = publish(1, "api");
    ok(&["deployed", "--target", "staging-eu", "--revision", &c1]);
    let succeeded = git(&bare, &["rev-parse", STATE_REF]).trim().to_owned();
    ok(&[
        "deployed",
        "--target",
        "staging-eu",
        "--revision",
        &c1,
        "--failed",
    ]);
    // The next publish seals the position of the state it was written with.
    publish(2, "web");
    assert!(
        head_trailers(&bare).contains("Cfgupdate-State: "),
        "{}",
        head_trailers(&bare)
    );

    let mallory = Person::clone(&url, "master", "Mallory");
    mallory.git(&[
        "fetch",
        "--quiet",
        "origin",
        &format!("{STATE_REF}:refs/old"),
    ]);
    mallory.git(&[
        "push",
        "--quiet",
        "--force",
        "origin",
        &format!("{succeeded}:{STATE_REF}"),
    ]);
    let output = cli(
        &url,
        true,
        &["deployed", "--target", "staging-us", "--revision", &c1],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("moved the state ref back") && stderr.contains("state reset"),
        "{stderr}"
    );
    assert_eq!(git(&bare, &["rev-parse", STATE_REF]).trim(), succeeded);
    let status = cli(&url, true, &["status", "--json"]);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        json["state"]["problem"]
            .as_str()
            .unwrap()
            .contains("moved the state ref back"),
        "{json}"
    );
    ok(&["state", "reset"]);
    ok(&["deployed", "--target", "staging-us", "--revision", &c1]);
    git(&bare, &["fsck", "--strict", "--no-progress"]);
}
