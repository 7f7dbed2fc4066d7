//! `POST /v1/checks` on running services in strict mode (docs/strict.md): CI results in
//! cfgupdate's shape and GitHub's signed `status` event, and two replicas receiving
//! contradicting results at once never fast-forward main to a commit whose change CI failed.

use crate::serve_support;

use std::sync::{Arc, Barrier};
use std::thread;

use cfgupdate_tests::{GitDaemon, git};
use serde_json::json;
use serve_support::*;

fn strict_files() -> Vec<(String, String)> {
    files()
        .into_iter()
        .map(|(path, text)| {
            if path == "cfgupdate.toml" {
                (path, format!("[strict]\nbranch = \"auto\"\n\n{text}"))
            } else {
                (path, text)
            }
        })
        .collect()
}

struct Setup {
    _daemon: GitDaemon,
    bare: std::path::PathBuf,
    _dir: tempfile::TempDir,
    servers: Vec<Server>,
}

fn setup(replicas: usize) -> Setup {
    let daemon = GitDaemon::start().unwrap();
    let files = strict_files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let servers = (0..replicas)
        .map(|i| {
            Server::start(Options {
                repo: &url,
                cache: &dir.path().join(format!("cache-{i}")),
                log: dir.path().join(format!("{i}.log")),
                env: all_credentials(),
                args: vec![],
            })
        })
        .collect();
    Setup {
        _daemon: daemon,
        bare,
        _dir: dir,
        servers,
    }
}

fn publish(server: &Server, i: usize, service: &str) -> String {
    let answer = post_as(
        &server.at("/v1/images"),
        CI_TOKEN,
        &announcement(i, service),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["commit"].as_str().unwrap().to_owned()
}

fn check(commit: &str, state: &str) -> String {
    json!({ "commit": commit, "state": state, "context": "kubeconform" }).to_string()
}

#[test]
fn ci_results_arrive_as_cfgupdates_shape_or_githubs_signed_status_event() {
    let setup = setup(1);
    let server = &setup.servers[0];
    let main = git(&setup.bare, &["rev-parse", "master"]);
    let bad = publish(server, 1, "api");
    let good = publish(server, 2, "web");
    assert_eq!(git(&setup.bare, &["rev-parse", "master"]), main);
    assert_eq!(git(&setup.bare, &["rev-parse", "auto"]), good);

    let url = server.at("/v1/checks");
    // Credentials of scope ci only.
    assert_eq!(post(&url, &[], &check(&bad, "failure")).status, 401);
    assert_eq!(
        post_as(&url, DEPLOY_TOKEN, &check(&bad, "failure")).status,
        403
    );
    assert_eq!(post_as(&url, CI_TOKEN, &check(&bad, "green")).status, 422);
    // A check name that is not one (it would be kept in the state every call fetches).
    let long = json!({ "commit": bad, "state": "pending", "context": "x".repeat(300) });
    let answer = post_as(&url, CI_TOKEN, &long.to_string());
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert!(answer.text.contains("not one"), "{}", answer.text);
    assert_eq!(post_as(&url, CI_TOKEN, "{\"commit\": 1}").status, 400);

    let answer = post_as(&url, CI_TOKEN, &check(&good, "pending"));
    assert_eq!(answer.json(), json!({ "result": "recorded" }));
    // GET /v1/status shows the queue as `cfgupdate status --json` does.
    let status = get(&server.at("/v1/status")).json();
    let pending = status["strict"]["pending"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 2, "{status:#}");
    assert_eq!(pending[1]["commit"], good.as_str());
    assert_eq!(pending[1]["ci"], "pending");
    assert_eq!(status["strict"]["main"], main.as_str());

    // GitHub's status event, signed: red for the first change.
    let event = json!({
        "id": 1, "sha": bad, "name": "acme/cfg-app", "state": "failure",
        "context": "ci/kubeconform", "description": "2 manifests invalid", "branches": [],
    })
    .to_string();
    let signature = cfgupdate_http::sign(HMAC_SECRET.as_bytes(), event.as_bytes());
    let answer = post(&url, &[("X-Hub-Signature-256", &signature)], &event);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let evicted = answer.json();
    assert_eq!(evicted["result"], "evicted");
    assert_eq!(evicted["evicted"], bad.as_str());
    let auto = evicted["commit"].as_str().unwrap().to_owned();
    assert_eq!(git(&setup.bare, &["rev-parse", "auto"]), auto);
    assert_eq!(git(&setup.bare, &["rev-parse", &format!("{auto}^")]), main);

    // The evicted announcement stays evicted.
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 409, "{}", answer.text);

    // A stale green changes nothing; the replayed commit's green moves main to it.
    let answer = post_as(&url, CI_TOKEN, &check(&good, "success"));
    assert_eq!(answer.json()["result"], "unchanged", "{}", answer.text);
    let answer = post_as(&url, CI_TOKEN, &check(&auto, "success"));
    assert_eq!(answer.json()["result"], "accepted", "{}", answer.text);
    assert_eq!(git(&setup.bare, &["rev-parse", "master"]), auto);
}

#[test]
fn two_replicas_receiving_contradicting_results_at_once_never_fast_forward_to_a_failed_change() {
    for round in 0..3 {
        let setup = setup(2);
        let main = git(&setup.bare, &["rev-parse", "master"]);
        let bad = publish(&setup.servers[0], 10 + round, "api");
        let later = publish(&setup.servers[1], 20 + round, "web");
        let barrier = Arc::new(Barrier::new(2));
        let answers: Vec<Answer> = thread::scope(|scope| {
            let sends = [(0, bad.clone(), "failure"), (1, later.clone(), "success")].map(
                |(replica, commit, state)| {
                    let barrier = barrier.clone();
                    let url = setup.servers[replica].at("/v1/checks");
                    scope.spawn(move || {
                        barrier.wait();
                        post_as(&url, CI_TOKEN, &check(&commit, state))
                    })
                },
            );
            sends.map(|send| send.join().unwrap()).into()
        });
        for answer in &answers {
            assert_eq!(answer.status, 200, "round {round}: {}", answer.text);
        }
        let now = git(&setup.bare, &["rev-parse", "master"]);
        let (red, green) = (answers[0].json(), answers[1].json());
        if red["result"] == "evicted" {
            assert_eq!(
                now, main,
                "round {round}: main moved past an evicted change"
            );
            assert_eq!(green["result"], "unchanged", "round {round}");
        } else {
            assert_eq!(red["result"], "unchanged", "round {round}");
            assert_eq!(green["result"], "accepted", "round {round}");
            assert_eq!(now, later, "round {round}");
        }
    }
}
