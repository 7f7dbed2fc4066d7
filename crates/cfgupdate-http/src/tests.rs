//! The router and the writer together, on an in-memory repository: statuses, answers and
//! group commit without a network.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use cfgupdate_core::testing::{ManualClock, MemoryRepository, Push, SharedRepository};
use cfgupdate_core::trailers::Record;
use cfgupdate_core::{CommitId, ConfigRepository, SystemClock};
use serde_json::Value;
use tower::ServiceExt;

use crate::{AuthSettings, Secret, Service, Settings, sign};

const PIPELINE: &str = r#"
[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]
approval = true

[target.staging]
entrypoint = "envs/staging/main.jsonnet"
argocd_app = "cfg-staging"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

/// A target's entrypoint: one Deployment for each service the tests use, whatever image its
/// wave holds (the render check allows only image changes).
fn entrypoint(images: &str, namespace: &str) -> String {
    let services: Vec<String> = ["api".to_owned(), "web".to_owned()]
        .into_iter()
        .chain((1..=12).map(|i| format!("svc{i}")))
        .map(|s| format!("'{s}'"))
        .collect();
    format!(
        "local images = import '../../{images}';\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: '{namespace}' }},\n    spec: {{ template: {{ spec: {{ containers: [{{ name: s, image: std.get(images, s, 'reg.example.com/' + s + ':none') }}] }} }} }} }}\n  for s in [{}]\n]\n",
        services.join(", ")
    )
}

fn memory() -> MemoryRepository {
    let staging = entrypoint("images/staging.json", "staging");
    let prod = entrypoint("images/production.json", "prod");
    MemoryRepository::new(&[
        ("cfgupdate.toml", PIPELINE),
        ("images/staging.json", "{}\n"),
        ("images/production.json", "{}\n"),
        ("envs/staging/main.jsonnet", &staging),
        ("envs/prod/main.jsonnet", &prod),
    ])
}

/// A shared memory repository whose pushes to the branch take `delay` (the test's hook sleeps,
/// the core never does).
fn delayed(repo: MemoryRepository, delay: Duration) -> SharedRepository {
    SharedRepository::new(repo).before_each_push(move |push| {
        if push != Push::State {
            std::thread::sleep(delay);
        }
    })
}

fn settings() -> Settings {
    Settings {
        auth: AuthSettings {
            ci_token: Secret::new("ci"),
            deploy_token: Secret::new("deploy"),
            admin_token: Secret::new("admin"),
            ci_hmac_secret: Secret::new("hmac"),
            ci_webhook_secret: Secret::from_bytes(b"webhook-key".to_vec()),
            ..AuthSettings::default()
        },
        body_limit: 4096,
        ..Settings::default()
    }
}

fn service(repo: SharedRepository, settings: Settings) -> Service {
    Service::start(Box::new(repo), Arc::new(SystemClock), settings).unwrap()
}

fn app(i: u32) -> String {
    format!("{i:040x}")
}

fn announcement(i: u32, service: &str) -> String {
    format!(
        r#"{{"app_commit": "{}", "images": {{"{service}": "reg.example.com/{service}:{i}@sha256:{:064x}"}}}}"#,
        app(i),
        i
    )
}

fn post(path: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

async fn call(service: &Service, request: Request<Body>) -> (StatusCode, Response<()>, Value) {
    let response = service.router().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, Response::from_parts(parts, ()), value)
}

fn error_of(value: &Value) -> &str {
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error sentence in {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_size_and_type_errors_are_json_sentences() {
    let service = service(SharedRepository::new(memory()), settings());
    let (status, _, body) = call(
        &service,
        Request::get("/v2/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_of(&body);
    let (status, _, body) = call(
        &service,
        Request::get("/v1/images").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    error_of(&body);
    let big = format!(
        r#"{{"app_commit": "{}", "images": {{}}, "pad": "{}"}}"#,
        app(1),
        "x".repeat(5000)
    );
    let (status, _, body) = call(&service, post("/v1/images", Some("ci"), &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&body).contains("4096"), "{body}");
    let request = Request::post("/v1/images")
        .header(header::AUTHORIZATION, "Bearer ci")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(announcement(1, "api")))
        .unwrap();
    let (status, _, body) = call(&service, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    error_of(&body);
    let (status, _, body) = call(&service, post("/v1/images", Some("ci"), "{oops")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error_of(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked_before_the_body_is_read_as_json() {
    let service = service(SharedRepository::new(memory()), settings());
    // Wrong content type and bad JSON, but the credentials answer first.
    let (status, response, body) = call(&service, post("/v1/images", None, "{oops")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    error_of(&body);
    let (status, _, _) = call(&service, post("/v1/deployments", Some("ci"), "{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&service, post("/v1/approvals", Some("deploy"), "{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = announcement(1, "api");
    let request = Request::post("/v1/images")
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-Hub-Signature-256", sign(b"hmac", body.as_bytes()))
        .body(Body::from(body))
        .unwrap();
    let (status, _, answer) = call(&service, request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_commit_once_and_a_replay_is_unchanged() {
    let repo = SharedRepository::new(memory());
    let service = service(repo.clone(), settings());
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "committed");
    assert_eq!(answer["wave"], "staging");
    assert_eq!(
        answer["commit"].as_str(),
        Some(repo.with(|r| r.remote_tip().to_string())).as_deref()
    );
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("admin"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, serde_json::json!({"result": "unchanged"}));
    // The original design's payload, with the app commit in the query string.
    let body = format!(
        r#"{{"web": {{"Tag": "reg.example.com/web:v2", "Digest": "reg.example.com/web@sha256:{:064x}"}}}}"#,
        7
    );
    let (status, _, answer) = call(
        &service,
        post(
            &format!("/v1/images?app_commit={}", app(2)),
            Some("ci"),
            &body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let staging = repo.with(|r| r.remote_text("images/staging.json")).unwrap();
    assert!(
        staging.contains(&format!("reg.example.com/web:v2@sha256:{:064x}", 7)),
        "{staging}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_that_arrive_during_a_push_share_the_next_commit() {
    let repo = delayed(memory(), Duration::from_millis(300));
    let service = Arc::new(service(repo.clone(), settings()));
    let before = repo.with(|r| r.remote_history().len());
    let mut calls = Vec::new();
    for i in 1..=12 {
        let service = service.clone();
        calls.push(tokio::spawn(async move {
            call(
                &service,
                post(
                    "/v1/images",
                    Some("ci"),
                    &announcement(i, &format!("svc{i}")),
                ),
            )
            .await
        }));
    }
    for call in calls {
        let (status, _, answer) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["result"], "committed");
    }
    let history = repo.with(|r| r.remote_history());
    let commits = history.len() - before;
    let apps: usize = history
        .iter()
        .map(|(_, message)| Record::parse(message).app_commits.len())
        .sum();
    assert_eq!(apps, 12, "every announcement has its trailer");
    assert!(
        (1..12).contains(&commits),
        "{commits} commits for 12 announcements"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_reports_and_approvals_answer_with_what_the_core_decided() {
    let repo = SharedRepository::new(memory());
    let service = service(repo.clone(), settings());
    let (_, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    let commit = answer["commit"].as_str().unwrap().to_owned();
    let report =
        format!(r#"{{"app": "cfg-staging", "revision": "{commit}", "status": "succeeded"}}"#);
    let (status, _, answer) =
        call(&service, post("/v1/deployments", Some("deploy"), &report)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "pending");
    assert_eq!(answer["gate"], "approval");
    assert_eq!(answer["wave"], "production");
    let (status, _, answer) = call(
        &service,
        post("/v1/approvals", Some("admin"), r#"{"wave": "production"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "promoted");
    assert!(
        repo.with(|r| r.remote_text("images/production.json"))
            .unwrap()
            .contains("reg.example.com/api:1@")
    );
    let unknown =
        format!(r#"{{"target": "nowhere", "revision": "{commit}", "status": "succeeded"}}"#);
    let (status, _, answer) =
        call(&service, post("/v1/deployments", Some("deploy"), &unknown)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&answer).contains("nowhere"));
    let (status, _, answer) = call(
        &service,
        post("/v1/approvals", Some("admin"), r#"{"wave": "staging"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, _, answer) = call(
        &service,
        Request::get("/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["waves"][1]["name"], "production");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_remote_is_503_with_retry_after_and_not_ready() {
    let mut offline = memory();
    offline.offline = true;
    let service = service(SharedRepository::new(offline), settings());
    let (status, response, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "5");
    error_of(&answer);
    let (status, _, answer) = call(
        &service,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let (status, _, answer) = call(
        &service,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["auth"], "enabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_the_remote_declines_is_502_in_its_words_once_and_not_ready_until_one_lands() {
    let shared = SharedRepository::new(memory());
    shared.with(|repo| repo.decline_branch = Some("protected branch: master".into()));
    let service = service(shared.clone(), settings());
    let (status, response, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer}");
    assert!(response.headers().get(header::RETRY_AFTER).is_none());
    assert_eq!(
        error_of(&answer),
        "the remote refused the push: protected branch: master"
    );
    assert_eq!(shared.with(|repo| repo.branch_pushes), 1, "one attempt");
    let readyz = || Request::get("/readyz").body(Body::empty()).unwrap();
    let (status, _, answer) = call(&service, readyz()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(
        error_of(&answer).contains("protected branch: master"),
        "{answer}"
    );

    shared.with(|repo| repo.decline_branch = None);
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(2, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _, answer) = call(&service, readyz()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_no_auth_lets_requests_in_and_says_so_in_healthz() {
    let settings = Settings {
        auth: AuthSettings {
            insecure_no_auth: true,
            ..AuthSettings::default()
        },
        ..Settings::default()
    };
    let service = service(SharedRepository::new(memory()), settings);
    let (status, _, answer) =
        call(&service, post("/v1/images", None, &announcement(1, "api"))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, _, answer) = call(
        &service,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer["auth"], "disabled");
    assert!(
        answer["warning"]
            .as_str()
            .unwrap()
            .contains("--insecure-no-auth")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_no_credentials_refuses_every_write() {
    let settings = Settings::default();
    let service = service(SharedRepository::new(memory()), settings);
    for (path, token) in [
        ("/v1/images", "x"),
        ("/v1/deployments", "x"),
        ("/v1/approvals", "x"),
    ] {
        let (status, _, answer) = call(&service, post(path, Some(token), "{}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
        let (status, _, answer) = call(&service, post(path, None, "{}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlasts_the_timeout_is_503_and_a_queued_one_is_dropped_unstarted() {
    let repo = delayed(memory(), Duration::from_millis(800));
    let settings = Settings {
        request_timeout: Duration::from_millis(300),
        ..settings()
    };
    let service = Arc::new(service(repo.clone(), settings));
    let first = {
        let service = service.clone();
        tokio::spawn(async move {
            call(
                &service,
                post("/v1/images", Some("ci"), &announcement(1, "api")),
            )
            .await
        })
    };
    // Queued behind the first one's slow push: its caller gives up before its turn.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, response, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(2, "web")),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(error_of(&answer).contains("retrying is safe"), "{answer}");
    let (status, _, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // The first write had started and lands whole; the second never started.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let apps: Vec<CommitId> = repo.with(|r| {
        r.remote_history()
            .iter()
            .flat_map(|(_, message)| Record::parse(message).app_commits)
            .collect()
    });
    assert_eq!(apps, vec![CommitId::parse(&app(1)).unwrap()]);
}

fn commits_on(repo: &SharedRepository) -> usize {
    repo.with(|r| r.remote_history().len())
}

fn signed(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-Hub-Signature-256", sign(b"hmac", body.as_bytes()))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_signed_body_replayed_with_another_query_is_refused() {
    let repo = SharedRepository::new(memory());
    let service = service(repo.clone(), settings());
    // The original design's payload: the body says nothing of the app commit.
    let body = format!(
        r#"{{"api": {{"Tag": "reg.example.com/api:v1", "Digest": "reg.example.com/api@sha256:{:064x}"}}}}"#,
        1
    );
    let before = commits_on(&repo);
    for app_commit in [app(1), app(2)] {
        let (status, _, answer) = call(
            &service,
            signed(&format!("/v1/images?app_commit={app_commit}"), &body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(error_of(&answer).contains("bearer token"), "{answer}");
        assert!(!error_of(&answer).contains('\n'));
    }
    assert_eq!(commits_on(&repo), before, "nothing reached the remote");
    // A signed body that carries its app commit is fine, with or without an agreeing query.
    let body = announcement(3, "api");
    let (status, _, answer) = call(&service, signed("/v1/images", &body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _, _) = call(
        &service,
        signed(&format!("/v1/images?app_commit={}", app(4)), &body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // With a bearer token the query is still accepted (the original design's CI).
    let body = format!(
        r#"{{"web": {{"Tag": "reg.example.com/web:v2", "Digest": "reg.example.com/web@sha256:{:064x}"}}}}"#,
        7
    );
    let (status, _, answer) = call(
        &service,
        post(
            &format!("/v1/images?app_commit={}", app(5)),
            Some("ci"),
            &body,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

const NOW: u64 = 1_800_000_000;

fn webhook_request(
    id: &str,
    timestamp: u64,
    body: &str,
    signature: Option<String>,
) -> Request<Body> {
    let signature = signature
        .unwrap_or_else(|| crate::sign_webhook(b"webhook-key", id, timestamp, body.as_bytes()));
    Request::post("/v1/images")
        .header(header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_deliveries_are_accepted_once_and_repeats_answered_as_the_first() {
    let repo = SharedRepository::new(memory());
    let clock = Arc::new(ManualClock::at_seconds(NOW));
    let service = Service::start(Box::new(repo.clone()), clock.clone(), settings()).unwrap();
    let body = announcement(1, "api");
    let (status, _, first) = call(&service, webhook_request("msg_1", NOW - 10, &body, None)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["result"], "committed");
    let after_first = commits_on(&repo);
    // A person moves the branch on; the repeat must still answer as the first did.
    clock.advance(Duration::from_secs(60));
    let (status, _, again) = call(&service, webhook_request("msg_1", NOW - 10, &body, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first, "answered exactly as the first delivery");
    assert_eq!(commits_on(&repo), after_first, "no new commit");
    // The same id with another body (validly signed) is still the same delivery.
    let other = announcement(2, "web");
    let (_, _, repeat) = call(&service, webhook_request("msg_1", NOW - 10, &other, None)).await;
    assert_eq!(repeat, first);
    assert_eq!(commits_on(&repo), after_first);
    // Expired: more than 5 minutes away either way.
    for timestamp in [NOW + 60 - 301, NOW + 60 + 301] {
        let (status, response, answer) =
            call(&service, webhook_request("msg_2", timestamp, &other, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(error_of(&answer).contains("5 minutes"), "{answer}");
    }
    // A wrong signature.
    let wrong = crate::sign_webhook(b"another-key", "msg_3", NOW + 60, other.as_bytes());
    let (status, _, answer) = call(
        &service,
        webhook_request("msg_3", NOW + 60, &other, Some(wrong)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    // Malformed headers.
    for (id, signature) in [("msg 4", None), ("msg_4", Some("v1,notbase64!".to_owned()))] {
        let (status, _, answer) =
            call(&service, webhook_request(id, NOW + 60, &other, signature)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    }
    let request = Request::post("/v1/images")
        .header(header::CONTENT_TYPE, "application/json")
        .header("webhook-id", "msg_5")
        .header("webhook-timestamp", "soon")
        .header(
            "webhook-signature",
            crate::sign_webhook(b"webhook-key", "msg_5", NOW, other.as_bytes()),
        )
        .body(Body::from(other.clone()))
        .unwrap();
    let (status, _, _) = call(&service, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(commits_on(&repo), after_first, "no refused delivery wrote");
    // A new id within the window is a new delivery.
    let (status, _, answer) =
        call(&service, webhook_request("msg_6", NOW + 60, &other, None)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bearer_token_is_refused_before_any_body_byte_is_read() {
    let service = service(SharedRepository::new(memory()), settings());
    for token in [None, Some("wrong")] {
        // A body that never arrives: reading it would wait for the body deadline (408).
        let never = Body::from_stream(futures_pending());
        let mut request = Request::post("/v1/images")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "1048576");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            call(&service, request.body(never).unwrap()),
        )
        .await
        .expect("answered without waiting for the body");
        assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    // A good token with a body that never comes gets the body deadline's 408.
    let mut settings = settings();
    settings.limits.body_timeout = Duration::from_millis(200);
    let service = self::service(SharedRepository::new(memory()), settings);
    let request = Request::post("/v1/images")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer ci")
        .body(Body::from_stream(futures_pending()))
        .unwrap();
    let (status, _, answer) = call(&service, request).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{answer}");
}

/// A body stream that never yields.
fn futures_pending()
-> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::pending()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_status_reads_cost_a_handful_of_fetches() {
    let service = service(SharedRepository::new(memory()), settings());
    let before = service.metrics().fetches();
    let mut first = None;
    for _ in 0..500 {
        let (status, _, body) = call(
            &service,
            Request::get("/v1/status").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        first.get_or_insert(body);
    }
    let readers: Vec<_> = (0..500)
        .map(|_| {
            let router = service.router();
            tokio::spawn(async move {
                router
                    .oneshot(Request::get("/v1/status").body(Body::empty()).unwrap())
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), StatusCode::OK);
    }
    let fetches = service.metrics().fetches() - before;
    assert!(fetches <= 5, "1,000 status reads cost {fetches} fetches");
    assert!(first.unwrap()["waves"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_keeps_answering_while_the_writer_is_busy_with_a_long_write() {
    let repo = delayed(memory(), Duration::from_secs(3));
    let mut settings = settings();
    settings.status_max_age = Duration::from_millis(10);
    let service = service(repo, settings);
    let (status, _, _) = call(
        &service,
        Request::get("/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A publish whose push takes 3 s holds the writer.
    let router = service.router();
    let write = tokio::spawn(async move {
        router
            .oneshot(post("/v1/images", Some("ci"), &announcement(1, "api")))
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..20 {
        let answer = tokio::time::timeout(
            Duration::from_secs(1),
            call(
                &service,
                Request::get("/v1/status").body(Body::empty()).unwrap(),
            ),
        )
        .await
        .expect("status answered while the writer was busy");
        assert_eq!(answer.0, StatusCode::OK);
        assert!(answer.1.headers().contains_key(header::AGE));
    }
    assert_eq!(write.await.unwrap(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_a_writer_stuck_on_one_task() {
    let repo = delayed(memory(), Duration::from_secs(2));
    let mut settings = settings();
    settings.writer_stuck_after = Duration::from_millis(300);
    let service = service(repo, settings);
    let (status, _, body) = call(
        &service,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let router = service.router();
    let write = tokio::spawn(async move {
        router
            .oneshot(post("/v1/images", Some("ci"), &announcement(1, "api")))
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, response, body) = call(
        &service,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(error_of(&body).contains("stuck"), "{body}");
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(write.await.unwrap(), StatusCode::OK);
    let mut healthy = false;
    for _ in 0..50 {
        let (status, _, _) = call(
            &service,
            Request::get("/healthz").body(Body::empty()).unwrap(),
        )
        .await;
        if status == StatusCode::OK {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "healthy again once the write ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_pipeline_file_blames_the_branch_not_the_sender_and_its_fix_is_seen_at_once() {
    let repo = SharedRepository::new(memory());
    let service = service(repo.clone(), settings());
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let pipeline = cfgupdate_core::RepoPath::parse("cfgupdate.toml").unwrap();
    repo.with(|r| {
        r.person_pushes("break it", |tree| {
            tree.insert(pipeline.clone(), b"[[wave]]\nname = 3\n".to_vec());
        })
    });
    let (status, response, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(2, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let (status, _, ready) = call(
        &service,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert!(error_of(&ready).contains("cfgupdate.toml"), "{ready}");
    // The service's copy now holds the broken file; a person fixes the remote.
    repo.with(|r| {
        r.person_pushes("fix it", |tree| {
            tree.insert(pipeline.clone(), PIPELINE.as_bytes().to_vec());
        })
    });
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(3, "api")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first announcement after the fix lands: {answer}"
    );
    let (status, _, ready) = call(
        &service,
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    // A request that is itself wrong is still 422.
    let report = format!(
        r#"{{"target": "nosuch", "revision": "{}", "status": "succeeded"}}"#,
        app(9)
    );
    let (status, _, answer) =
        call(&service, post("/v1/deployments", Some("deploy"), &report)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_by_a_named_token_names_its_holder_in_the_promotions_trailer() {
    use sha2::Digest;
    let repo = SharedRepository::new(memory());
    let mut settings = settings();
    settings.auth.tokens = vec![crate::NamedToken::new(
        "alice@ops",
        crate::Scope::Admin,
        &hex::encode(sha2::Sha256::digest(b"alices-own-token")),
    )];
    let service = service(repo.clone(), settings);
    let (_, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    let commit = answer["commit"].as_str().unwrap().to_owned();
    let report =
        format!(r#"{{"app": "cfg-staging", "revision": "{commit}", "status": "succeeded"}}"#);
    let (_, _, answer) = call(&service, post("/v1/deployments", Some("deploy"), &report)).await;
    assert_eq!(answer["gate"], "approval", "{answer}");
    let (status, _, answer) = call(
        &service,
        post(
            "/v1/approvals",
            Some("alices-own-token"),
            r#"{"wave": "production"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "promoted");
    let promoted = CommitId::parse(answer["commit"].as_str().unwrap()).unwrap();
    let message = repo.with(|r| r.log(&promoted, 1).unwrap()[0].message.clone());
    assert!(
        message.contains("Cfgupdate-Approved-By: alice@ops"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_shaped_requests_from_strangers_get_a_small_share_and_never_block_bearers() {
    let mut settings = settings();
    settings.limits.unproven_bodies = 2;
    let service = service(SharedRepository::new(memory()), settings);
    // Strangers: a well-formed but made-up signature, and a body that never arrives.
    let stalled = || {
        Request::post("/v1/images")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-hub-signature-256", format!("sha256={}", "ab".repeat(32)))
            .body(Body::from_stream(futures_util::stream::pending::<
                Result<axum::body::Bytes, std::io::Error>,
            >()))
            .unwrap()
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let router = service.router();
        held.push(tokio::spawn(router.oneshot(stalled())));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Their share is taken: a third is answered at once, 503 with Retry-After.
    let (status, response, answer) = call(&service, stalled()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    // A bearer request is not held up by them.
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for request in held {
        request.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shares_the_status_snapshot_and_forbids_scripts() {
    let service = service(SharedRepository::new(memory()), settings());
    let (_, _, json) = call(
        &service,
        Request::get("/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    let before = service.metrics().fetches();
    let readers: Vec<_> = (0..1000)
        .map(|i| {
            let router = service.router();
            let path = if i % 2 == 0 { "/" } else { "/v1/status" };
            tokio::spawn(async move {
                router
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), StatusCode::OK);
    }
    let fetches = service.metrics().fetches() - before;
    assert!(
        fetches <= 5,
        "1,000 page and status reads cost {fetches} fetches"
    );

    let response = service
        .router()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let page = String::from_utf8(
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    assert!(
        !policy.contains("unsafe") && !policy.contains("script-src"),
        "{policy}"
    );
    // The style sheet the policy allows by its hash is the one the page carries.
    let style = page
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .unwrap();
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style));
    assert!(
        policy.contains(&format!("style-src 'sha256-{hash}'")),
        "{policy}"
    );
    assert!(!page.contains("<script"));
    // The page shows what the JSON says: the branch tip, short.
    let tip = json["revision"].as_str().unwrap();
    assert!(page.contains(&tip[..12]), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_of_an_unreachable_remote_says_why_and_keeps_reloading() {
    let shared = SharedRepository::new(memory());
    shared.with(|repo| repo.offline = true);
    let service = service(shared.clone(), settings());
    let page = || Request::get("/").body(Body::empty()).unwrap();
    let response = service.router().oneshot(page()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers().clone();
    assert_eq!(headers[header::RETRY_AFTER], "5");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("The status cannot be read right now."),
        "{text}"
    );
    assert!(text.contains("http-equiv=\"refresh\""), "{text}");
    // Once the remote is back, so is the page.
    shared.with(|repo| repo.offline = false);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = service.router().oneshot(page()).await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_read_right_after_a_write_shows_it_however_recent_the_snapshot() {
    let mut settings = settings();
    // A snapshot this young would otherwise be answered as it is for the whole test.
    settings.status_max_age = Duration::from_secs(600);
    let service = service(SharedRepository::new(memory()), settings);
    let read = || async {
        let (status, _, body) = call(
            &service,
            Request::get("/v1/status").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.to_string()
    };
    let before = read().await;
    assert!(!before.contains("api:1@"), "{before}");
    let (status, _, answer) = call(
        &service,
        post("/v1/images", Some("ci"), &announcement(1, "api")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let after = read().await;
    assert!(after.contains("api:1@"), "the write is not shown: {after}");
    // Reads without a write in between still share the snapshot.
    let fetches = service.metrics().fetches();
    for _ in 0..50 {
        read().await;
    }
    assert_eq!(service.metrics().fetches(), fetches);
}

/// The promotion latency counts from the report that completed the wave by the core's rule
/// (a target's effective report is its newest revision's), never from whichever report came
/// last: a late report of an older revision neither completes nor re-completes the wave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_latency_counts_from_the_report_the_core_says_completed_the_wave() {
    let repo = SharedRepository::new(memory());
    let clock = Arc::new(ManualClock::at_seconds(1_000_000));
    let service = Service::start(Box::new(repo.clone()), clock.clone(), settings()).unwrap();
    let mut commits = Vec::new();
    for (i, name) in [(1, "api"), (2, "web")] {
        let (status, _, answer) = call(
            &service,
            post("/v1/images", Some("ci"), &announcement(i, name)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        commits.push(answer["commit"].as_str().unwrap().to_owned());
    }
    let report = |commit: &str| {
        format!(r#"{{"app": "cfg-staging", "revision": "{commit}", "status": "succeeded"}}"#)
    };
    // The newer revision completes staging; a minute and a half later the older one is
    // reported (a slow hook), which changes nothing.
    let (_, _, answer) = call(
        &service,
        post("/v1/deployments", Some("deploy"), &report(&commits[1])),
    )
    .await;
    assert_eq!(answer["gate"], "approval", "{answer}");
    clock.advance(Duration::from_secs(90));
    let (_, _, answer) = call(
        &service,
        post("/v1/deployments", Some("deploy"), &report(&commits[0])),
    )
    .await;
    assert_eq!(answer["gate"], "approval", "{answer}");
    clock.advance(Duration::from_secs(110));
    let (status, _, answer) = call(
        &service,
        post("/v1/approvals", Some("admin"), r#"{"wave": "production"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "promoted");
    let text = service.metrics().encode();
    let sum = "cfgupdate_report_to_promotion_seconds_sum{wave=\"production\"} ";
    let line = text.lines().find(|l| l.starts_with(sum));
    assert_eq!(
        line.and_then(|l| l[sum.len()..].parse::<f64>().ok()),
        Some(200.0),
        "{text}"
    );
    // Each commit counted once, by what the core says it did.
    for line in [
        "cfgupdate_commits_total{action=\"publish\"} 2",
        "cfgupdate_commits_total{action=\"approve\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("action=\"promote\""), "{text}");
}
