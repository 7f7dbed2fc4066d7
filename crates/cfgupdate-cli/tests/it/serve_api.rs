//! `cfgupdate serve` through the real binary over real HTTP against a `git daemon`: every
//! status code of docs/http.md#status-codes, both payload formats, HMAC signatures and scopes.

use crate::serve_support;

use cfgupdate_tests::{GitDaemon, git};
use serde_json::json;
use serve_support::*;

struct Setup {
    daemon: GitDaemon,
    bare: std::path::PathBuf,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    Setup {
        daemon,
        bare,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn serve(setup: &Setup, name: &str, env: Vec<(&'static str, String)>, args: Vec<&str>) -> Server {
    let url = setup.daemon.url("config.git");
    Server::start(Options {
        repo: &url,
        cache: &setup.dir.path().join(format!("cache-{name}")),
        log: setup.dir.path().join(format!("{name}.log")),
        env,
        args,
    })
}

#[test]
fn every_status_code_of_the_contract_answers_with_one_sentence() {
    let setup = setup();
    let server = serve(
        &setup,
        "codes",
        all_credentials(),
        vec!["--body-limit", "2KiB"],
    );
    let images = server.at("/v1/images");

    // 200: committed, then unchanged for the same announcement.
    let first = post_as(&images, CI_TOKEN, &announcement(1, "api"));
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    assert_eq!(first["result"], "committed");
    assert_eq!(first["wave"], "staging");
    let tip = git(&setup.bare, &["rev-parse", "master"]);
    assert_eq!(first["commit"].as_str(), Some(tip.trim()));
    let again = post_as(&images, CI_TOKEN, &announcement(1, "api"));
    assert_eq!(
        (again.status, again.json()),
        (200, json!({"result": "unchanged"}))
    );

    // 400: not JSON, and JSON of the wrong shape.
    let answer = post_as(&images, CI_TOKEN, "{\"app_commit\": ");
    assert_eq!(answer.status, 400, "{}", answer.text);
    answer.error();
    let answer = post_as(
        &images,
        CI_TOKEN,
        &json!({"app_commit": app(2), "images": ["api"]}).to_string(),
    );
    assert_eq!(answer.status, 400, "{}", answer.text);

    // 401: no credentials, and a wrong token; 403: another scope's token.
    let answer = post(&images, &[], &announcement(2, "api"));
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert!(answer.header("www-authenticate").is_some());
    answer.error();
    let answer = post_as(&images, "not-a-token", &announcement(2, "api"));
    assert_eq!(answer.status, 401, "{}", answer.text);
    let answer = post_as(&images, DEPLOY_TOKEN, &announcement(2, "api"));
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert!(answer.error().contains("`deploy`"));

    // 404 and 405, as JSON too.
    let answer = get(&server.at("/v1/nothing"));
    assert_eq!(answer.status, 404);
    answer.error();
    let answer = get(&images);
    assert_eq!(answer.status, 405);
    answer.error();
    let answer = request("DELETE", &server.at("/v1/status"));
    assert_eq!(answer.status, 405);

    // 409: an announcement of an older build than the one staging holds.
    let build = |i: usize, number: u64| {
        json!({"app_commit": app(i), "images": {"web": reference("web", i)}, "build": {"number": number}})
            .to_string()
    };
    assert_eq!(post_as(&images, CI_TOKEN, &build(3, 20)).status, 200);
    let stale = post_as(&images, CI_TOKEN, &build(4, 19));
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert!(stale.error().contains("stale"), "{}", stale.text);

    // 413: a body over --body-limit.
    let big = json!({"app_commit": app(5), "images": {"api": reference("api", 5)}, "pad": "x".repeat(4096)});
    let answer = into_answer(try_post(
        &images,
        &[("Authorization", &format!("Bearer {CI_TOKEN}"))],
        &big.to_string(),
    ));
    assert_eq!(answer.status, 413, "{}", answer.text);
    assert!(answer.error().contains("2048"));

    // 415: not sent as JSON.
    let answer = post(
        &images,
        &[
            ("Authorization", &format!("Bearer {CI_TOKEN}")),
            ("Content-Type", "text/plain"),
        ],
        &announcement(5, "api"),
    );
    assert_eq!(answer.status, 415, "{}", answer.text);
    answer.error();

    // 422: a service with no slot in the Jsonnet wave, a reference without a digest, an
    // unknown target, a revision not on the branch.
    let answer = post_as(&images, CI_TOKEN, &announcement(6, "billing"));
    assert_eq!(answer.status, 422, "{}", answer.text);
    let sentence = answer.error();
    assert!(
        sentence.contains("billing") && sentence.contains("envs/staging/images.libsonnet"),
        "{sentence}"
    );
    let undigested = json!({"app_commit": app(6), "images": {"api": "reg.example.com/api:v6"}});
    let answer = post_as(&images, CI_TOKEN, &undigested.to_string());
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert!(answer.error().contains("reg.example.com/api:v6"));
    let deployments = server.at("/v1/deployments");
    let report = json!({"target": "mars", "revision": tip.trim(), "status": "succeeded"});
    let answer = post_as(&deployments, DEPLOY_TOKEN, &report.to_string());
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert!(answer.error().contains("mars"));
    let report = json!({"target": "staging-us", "revision": "f".repeat(40), "status": "succeeded"});
    let answer = post_as(&deployments, DEPLOY_TOKEN, &report.to_string());
    assert_eq!(answer.status, 422, "{}", answer.text);

    // 200 for the reads, without credentials.
    assert_eq!(get(&server.at("/healthz")).json()["auth"], "enabled");
    let ready = get(&server.at("/readyz"));
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(get(&server.at("/v1/status")).status, 200);
    assert_eq!(get(&server.at("/metrics")).status, 200);

    // 503 with Retry-After: the remote is gone; nothing is done.
    let commits = git(&setup.bare, &["rev-list", "--count", "master"]);
    // Stop the daemon (its whole process group) but keep its repositories.
    let pgid = format!("-{}", setup.daemon.pid());
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &pgid])
        .status()
        .unwrap();
    assert!(killed.success());
    let answer = post_as(&images, CI_TOKEN, &announcement(7, "api"));
    assert_eq!(answer.status, 503, "{}", answer.text);
    let retry: u64 = answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    answer.error();
    assert_eq!(
        git(&setup.bare, &["rev-list", "--count", "master"]),
        commits
    );
    let log = server.log();
    for secret in [CI_TOKEN, DEPLOY_TOKEN, ADMIN_TOKEN, HMAC_SECRET] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

#[test]
fn the_original_design_payload_and_hmac_signed_bodies_are_accepted() {
    let setup = setup();
    let server = serve(&setup, "hmac", all_credentials(), vec![]);
    let url = server.at(&format!("/v1/images?app_commit={}", app(11)));
    let body = json!({
        "api": {"Tag": "reg.example.com/api:v11", "Digest": format!("reg.example.com/api@sha256:{:064x}", 11)},
        "web": {"Tag": "reg.example.com/web:v11", "Digest": format!("reg.example.com/web@sha256:{:064x}", 12)},
    })
    .to_string();
    let signature = cfgupdate_http::sign(HMAC_SECRET.as_bytes(), body.as_bytes());

    // Missing, wrong-key and wrong-body signatures are refused.
    assert_eq!(post(&url, &[], &body).status, 401);
    let wrong_key = cfgupdate_http::sign(b"another secret", body.as_bytes());
    let answer = post(&url, &[("X-Hub-Signature-256", &wrong_key)], &body);
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert!(answer.error().contains("X-Hub-Signature-256"));
    let answer = post(
        &url,
        &[("X-Hub-Signature-256", &signature)],
        &body.replace("v11", "v12"),
    );
    assert_eq!(answer.status, 401, "{}", answer.text);
    let answer = post(&url, &[("X-Hub-Signature-256", "sha256=nothex")], &body);
    assert_eq!(answer.status, 401, "{}", answer.text);

    // A good signature alone does not cover the query's app commit (finding 2: a captured
    // signed body replayed with another `?app_commit=` rolled staging back): 400, and the
    // remote is left as it was.
    let before = git(&setup.bare, &["rev-parse", "master"]);
    for app_commit in [app(11), app(3)] {
        let replayed = server.at(&format!("/v1/images?app_commit={app_commit}"));
        let answer = post(&replayed, &[("X-Hub-Signature-256", &signature)], &body);
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert!(answer.error().contains("bearer token"), "{}", answer.text);
    }
    assert_eq!(git(&setup.bare, &["rev-parse", "master"]), before);

    // With a bearer token the original design's payload is accepted: one reference per
    // service, `name:tag@digest`.
    let answer = post_as(&url, CI_TOKEN, &body);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "committed");
    let staging = git(
        &setup.bare,
        &["show", "master:envs/staging/images.libsonnet"],
    );
    assert!(
        staging.contains(&format!("'reg.example.com/api:v11@sha256:{:064x}'", 11)),
        "{staging}"
    );
    assert!(
        staging.contains(&format!("'reg.example.com/web:v11@sha256:{:064x}'", 12)),
        "{staging}"
    );
    assert_eq!(
        trailer_values(&setup.bare, "Cfgupdate-App-Commit"),
        vec![app(11)]
    );

    // A signature proves scope ci only.
    let report = json!({"target": "staging-us", "revision": "0".repeat(40), "status": "succeeded"})
        .to_string();
    let signed = cfgupdate_http::sign(HMAC_SECRET.as_bytes(), report.as_bytes());
    let answer = post(
        &server.at("/v1/deployments"),
        &[("X-Hub-Signature-256", &signed)],
        &report,
    );
    assert_eq!(answer.status, 403, "{}", answer.text);

    // The original payload without the app commit in the query string is malformed.
    let bare_url = server.at("/v1/images");
    let answer = post(&bare_url, &[("X-Hub-Signature-256", &signature)], &body);
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.error().contains("app_commit"));

    // A signed body that carries its app commit is accepted on the signature alone.
    let body = announcement(12, "worker");
    let signature = cfgupdate_http::sign(HMAC_SECRET.as_bytes(), body.as_bytes());
    let answer = post(&bare_url, &[("X-Hub-Signature-256", &signature)], &body);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "committed");
}

#[test]
fn each_scope_opens_only_its_endpoint_admin_opens_all_and_an_unconfigured_scope_fails_closed() {
    let setup = setup();
    // No deploy token and no admin token: the deploy scope refuses everything.
    let server = serve(
        &setup,
        "scopes",
        vec![
            ("CFGUPDATE_CI_TOKEN", CI_TOKEN.into()),
            ("CFGUPDATE_DEPLOY_TOKEN", String::new()),
        ],
        vec![],
    );
    let report = json!({"target": "staging-us", "revision": "0".repeat(40), "status": "succeeded"})
        .to_string();
    let answer = post_as(&server.at("/v1/deployments"), CI_TOKEN, &report);
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert!(
        answer.error().contains("CFGUPDATE_DEPLOY_TOKEN"),
        "{}",
        answer.text
    );
    let answer = post_as(
        &server.at("/v1/approvals"),
        CI_TOKEN,
        r#"{"wave": "production"}"#,
    );
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(
        post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api")).status,
        200
    );
    drop(server);

    let server = serve(&setup, "admin", all_credentials(), vec![]);
    // ci on deployments and approvals, deploy on images and approvals: 403.
    assert_eq!(
        post_as(&server.at("/v1/deployments"), CI_TOKEN, &report).status,
        403
    );
    assert_eq!(
        post_as(
            &server.at("/v1/approvals"),
            CI_TOKEN,
            r#"{"wave": "production"}"#
        )
        .status,
        403
    );
    assert_eq!(
        post_as(
            &server.at("/v1/images"),
            DEPLOY_TOKEN,
            &announcement(2, "api")
        )
        .status,
        403
    );
    assert_eq!(
        post_as(
            &server.at("/v1/approvals"),
            DEPLOY_TOKEN,
            r#"{"wave": "production"}"#
        )
        .status,
        403
    );
    // admin everywhere.
    let published = post_as(
        &server.at("/v1/images"),
        ADMIN_TOKEN,
        &announcement(2, "api"),
    );
    assert_eq!(published.status, 200, "{}", published.text);
    let commit = published.json()["commit"].as_str().unwrap().to_owned();
    let report =
        json!({"app": "cfg-app-staging-us", "revision": commit, "status": "succeeded"}).to_string();
    let answer = post_as(&server.at("/v1/deployments"), ADMIN_TOKEN, &report);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "recorded");
    let answer = post_as(
        &server.at("/v1/approvals"),
        ADMIN_TOKEN,
        r#"{"wave": "production"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "unchanged");
}

#[test]
fn insecure_no_auth_is_loud_and_lets_requests_in() {
    let setup = setup();
    let server = serve(&setup, "insecure", vec![], vec!["--insecure-no-auth"]);
    let health = get(&server.at("/healthz")).json();
    assert_eq!(health["auth"], "disabled");
    assert!(
        health["warning"]
            .as_str()
            .unwrap()
            .contains("--insecure-no-auth")
    );
    assert!(
        server.log().contains("--insecure-no-auth"),
        "{}",
        server.log()
    );
    let answer = post(&server.at("/v1/images"), &[], &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
}
