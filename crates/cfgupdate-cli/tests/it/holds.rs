//! Rollback, people's edits and release (docs/promotion.md#rollback-and-release,
//! docs/promotion.md#peoples-edits) through the real binary and a running `cfgupdate serve`,
//! against a real `git daemon`, with the state authenticated by a key both share.

use std::process::{Command, Output};
use std::time::Duration;

use crate::serve_support;

use cfgupdate_tests::{GitDaemon, Person, git};
use serde_json::{Value, json};
use serve_support::*;

const STATE_KEY: &str = "a state key of the holds tests";

struct Setup {
    _daemon: GitDaemon,
    bare: std::path::PathBuf,
    dir: tempfile::TempDir,
    url: String,
    server: Server,
}

fn setup() -> Setup {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let mut env = all_credentials();
    env.push(("CFGUPDATE_STATE_KEY", STATE_KEY.into()));
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache-serve"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    Setup {
        _daemon: daemon,
        bare,
        dir,
        url,
        server,
    }
}

impl Setup {
    /// Runs the binary against the remote with its own cache and the shared state key.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(args)
            .args(["--repo", &self.url])
            .env("CFGUPDATE_CACHE_DIR", self.dir.path().join("cache-cli"))
            .env("CFGUPDATE_STATE_KEY", STATE_KEY)
            .env_remove("CFGUPDATE_STATE_KEY_FILE")
            .output()
            .expect("the binary runs")
    }

    fn tip(&self) -> String {
        git(&self.bare, &["rev-parse", "master"]).trim().to_owned()
    }

    /// Announces `services` built from app commit `i` over HTTP.
    fn announce(&self, i: usize, services: &[&str]) -> Answer {
        let images: serde_json::Map<String, Value> = services
            .iter()
            .map(|s| (s.to_string(), Value::String(reference(s, i))))
            .collect();
        post_as(
            &self.server.at("/v1/images"),
            CI_TOKEN,
            &json!({ "app_commit": app(i), "images": images }).to_string(),
        )
    }

    /// Both staging targets report `revision` deployed.
    fn deploy_staging(&self, revision: &str) {
        for target in ["staging-us", "staging-eu"] {
            let answer = post_as(
                &self.server.at("/v1/deployments"),
                DEPLOY_TOKEN,
                &json!({ "target": target, "revision": revision, "status": "succeeded" })
                    .to_string(),
            );
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
    }

    /// The image `internal` holds for `service` at the tip.
    fn internal(&self, service: &str) -> String {
        let text = git(&self.bare, &["show", "master:images/internal.json"]);
        let images: Value = serde_json::from_str(&text).unwrap();
        images[service].as_str().unwrap_or_default().to_owned()
    }

    fn wave_status(&self, wave: &str) -> Value {
        let status = get(&self.server.at("/v1/status"));
        assert_eq!(status.status, 200, "{}", status.text);
        status.json()["waves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == wave)
            .cloned()
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Publishes `services` at `i`, has staging deploy it, and waits until the service's soak
/// timer has promoted `service` at `i` into internal.
fn through_internal(setup: &Setup, i: usize, services: &[&str], waits_for: (&str, usize)) {
    let answer = setup.announce(i, services);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let revision = answer.json()["commit"].as_str().unwrap().to_owned();
    setup.deploy_staging(&revision);
    let (service, at) = waits_for;
    eventually(
        Duration::from_secs(60),
        "the promotion into internal",
        || setup.internal(service) == reference(service, at),
    );
}

#[test]
fn a_rollback_is_not_undone_by_the_next_promotion_until_released() {
    let setup = setup();
    through_internal(&setup, 1, &["api"], ("api", 1));
    let internal_at_1 = setup.tip();
    through_internal(&setup, 2, &["api"], ("api", 2));

    let output = setup.cli(&[
        "rollback",
        "--wave",
        "internal",
        "--to-revision",
        &internal_at_1,
        "--service",
        "api",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rollback = stdout(&output);
    assert_eq!(rollback, setup.tip());
    assert!(stderr(&output).contains("held there until `cfgupdate release`: api"));
    assert_eq!(setup.internal("api"), reference("api", 1));
    assert_eq!(
        trailer_values(&setup.bare, "Cfgupdate-Action")[0],
        "rollback",
        "the newest commit is the rollback"
    );

    // The next promotion writes web, and leaves api where the rollback put it.
    through_internal(&setup, 3, &["api", "web"], ("web", 3));
    assert_eq!(setup.internal("api"), reference("api", 1));
    let internal = setup.wave_status("internal");
    let held = &internal["held"][0];
    assert_eq!(held["service"], "api");
    assert_eq!(held["kind"], "rollback");
    assert_eq!(held["to_revision"], internal_at_1.as_str());
    assert_eq!(held["commit"], rollback.as_str());
    let text = stdout(&setup.cli(&["status"]));
    assert!(
        text.contains(&format!("`api` is rolled back to {}", &internal_at_1[..7])),
        "{text}"
    );

    let released = post_as(
        &setup.server.at("/v1/releases"),
        ADMIN_TOKEN,
        &json!({ "wave": "internal" }).to_string(),
    );
    assert_eq!(released.status, 200, "{}", released.text);
    assert_eq!(released.json()["result"], "released");
    assert_eq!(released.json()["released"][0]["service"], "api");
    assert!(setup.wave_status("internal").get("held").is_none());

    // Released: the next promotion writes api again.
    through_internal(&setup, 4, &["api"], ("api", 4));
}

#[test]
fn a_person_s_edit_pins_the_service_until_released_and_publish_of_it_alone_is_refused() {
    let setup = setup();
    assert_eq!(setup.announce(1, &["api"]).status, 200);
    let alice = Person::clone(&setup.url, "master", "Alice");
    let path = "envs/staging/images.libsonnet";
    let text = std::fs::read_to_string(alice.dir().join(path)).unwrap();
    let edited = text.replace(&reference("api", 1), &reference("api", 9));
    assert_ne!(edited, text);
    let edit = alice.commit_and_push(&[(path, &edited)], "Keep api at 9 in staging");

    // Publishing api alone is refused, naming the commit and its author; nothing is written.
    let before = setup.tip();
    let refused = setup.announce(2, &["api"]);
    assert_eq!(refused.status, 409, "{}", refused.text);
    let error = refused.error();
    assert!(
        error.contains(&edit[..12]) && error.contains("Alice <alice@example.com>"),
        "{error}"
    );
    let output = setup.cli(&[
        "publish",
        "--app-commit",
        &app(2),
        "--image",
        &format!("api={}", reference("api", 2)),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(setup.tip(), before);

    // Status (JSON, text and the page) names the commit and its author.
    let staging = setup.wave_status("staging");
    let held = &staging["held"][0];
    assert_eq!(held["service"], "api");
    assert_eq!(held["kind"], "edit");
    assert_eq!(held["commit"], edit.as_str());
    assert_eq!(held["author"], "Alice <alice@example.com>");
    let text = stdout(&setup.cli(&["status"]));
    assert!(
        text.contains(&format!("pinned by commit {} of Alice", &edit[..12])),
        "{text}"
    );
    let page = get(&setup.server.at("/")).text;
    assert!(page.contains("pinned by Alice"), "{page}");

    // With another service, the others are written and api is reported skipped.
    let answer = setup.announce(3, &["api", "web"]);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["skipped"], json!(["api"]));
    let staging = git(&setup.bare, &["show", &format!("master:{path}")]);
    assert!(staging.contains(&reference("api", 9)) && staging.contains(&reference("web", 3)));

    let output = setup.cli(&["release", "--wave", "staging", "--service", "api"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "unchanged");
    assert!(
        stderr(&output).contains(&format!("api (pinned by commit {} of Alice", &edit[..12])),
        "{}",
        stderr(&output)
    );
    let answer = setup.announce(4, &["api"]);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "committed");
}

#[test]
fn bad_input_names_the_value_and_changes_nothing() {
    let setup = setup();
    assert_eq!(setup.announce(1, &["api"]).status, 200);
    let before = setup.tip();
    let state = git(&setup.bare, &["rev-parse", "refs/cfgupdate/state/master"]);

    let output = setup.cli(&["rollback", "--wave", "internl", "--to-revision", &before]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown wave `internl`")
            && stderr(&output).contains("did you mean `internal`"),
        "{}",
        stderr(&output)
    );
    let elsewhere = "e".repeat(40);
    let output = setup.cli(&[
        "rollback",
        "--wave",
        "internal",
        "--to-revision",
        &elsewhere,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(&elsewhere), "{}", stderr(&output));
    let output = setup.cli(&[
        "rollback",
        "--wave",
        "staging",
        "--to-revision",
        &before,
        "--service",
        "apj",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown service `apj`"),
        "{}",
        stderr(&output)
    );
    let output = setup.cli(&["release", "--wave", "production"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nothing is held in wave `production`"),
        "{}",
        stderr(&output)
    );
    let answer = post_as(
        &setup.server.at("/v1/rollbacks"),
        ADMIN_TOKEN,
        &json!({ "wave": "nope", "to_revision": before }).to_string(),
    );
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert!(answer.error().contains("unknown wave `nope`"));
    let answer = post_as(
        &setup.server.at("/v1/rollbacks"),
        CI_TOKEN,
        &json!({ "wave": "staging", "to_revision": before }).to_string(),
    );
    assert_eq!(answer.status, 403, "{}", answer.text);

    assert_eq!(setup.tip(), before);
    assert_eq!(
        git(&setup.bare, &["rev-parse", "refs/cfgupdate/state/master"]),
        state
    );
}
