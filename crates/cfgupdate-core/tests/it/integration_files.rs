//! The integration files of `integrations/` (docs/integrations.md) do what they say: the Jsonnet
//! library renders, with cfgupdate's renderer and with go-jsonnet, into an Argo CD PostSync hook
//! Job whose command really reports the deployment; the CI script sends the payloads and the
//! HMAC of the contract; the Argo CD Notifications templates make the `/v1/deployments` JSON;
//! the GitHub Actions workflow announces the digest its build pushed.
//!
//! The hook's command and the CI script run for real, with `sh`, `bash`, `curl` and `openssl`,
//! against a listener on 127.0.0.1 that records the one request it gets.

use crate::render_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::extract_objects;
use cfgupdate_core::render::{RenderLimits, RevisionFiles, read_pipeline, render_target};
use render_support::{gojsonnet_values, memory_repo, workspace};
use serde_json::{Value, json};

const REVISION: &str = "3f9c2a7d1e0b4c5a6d7e8f90a1b2c3d4e5f60718";
const TOKEN: &str = "deploy-token-for-tests";

fn integrations() -> PathBuf {
    workspace().join("integrations")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(integrations().join(path)).unwrap()
}

/// A pipeline whose one target is the library's example, with the ext vars Argo CD passes.
fn example_pipeline(revision: &str) -> String {
    format!(
        r#"[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging-us"]

[target.staging-us]
entrypoint = "integrations/jsonnet/example/main.jsonnet"
ext_vars = {{ cfgupdate_target = "staging-us", cfgupdate_revision = "{revision}" }}
"#
    )
}

/// The example's objects as cfgupdate renders them, and its YAML files by name.
fn render_example(revision: &str) -> (Vec<Value>, BTreeMap<String, String>) {
    let files = vec![
        ("cfgupdate.toml".to_owned(), example_pipeline(revision)),
        ("images/staging.json".to_owned(), "{}\n".to_owned()),
        (
            "integrations/jsonnet/cfgupdate.libsonnet".to_owned(),
            read("jsonnet/cfgupdate.libsonnet"),
        ),
        (
            "integrations/jsonnet/example/main.jsonnet".to_owned(),
            read("jsonnet/example/main.jsonnet"),
        ),
    ];
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&source, "in the test").unwrap();
    let target = pipeline.targets.values().next().unwrap();
    let rendered = render_target(&source, &pipeline, target, &RenderLimits::default()).unwrap();
    let objects = rendered.objects.iter().map(|o| o.value.clone()).collect();
    (objects, rendered.files)
}

fn job<'a>(objects: &'a [Value], name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == "Job" && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Job {name} in {objects:#?}"))
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn the_jsonnet_example_renders_a_post_sync_hook_job_reporting_the_deployed_revision() {
    let (objects, files) = render_example(REVISION);
    assert_eq!(objects.len(), 3, "the Deployment and two hook Jobs");
    assert!(files.contains_key("job-shop-cfgupdate-deployed-staging-us.yaml"));

    let deployed = job(&objects, "cfgupdate-deployed-staging-us");
    let annotations = &deployed["metadata"]["annotations"];
    assert_eq!(annotations["argocd.argoproj.io/hook"], "PostSync");
    assert_eq!(
        annotations["argocd.argoproj.io/hook-delete-policy"],
        "BeforeHookCreation"
    );
    assert_eq!(deployed["metadata"]["namespace"], "shop");
    let pod = &deployed["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    let body: Value = serde_json::from_str(
        env(container, "CFGUPDATE_REPORT")["value"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"target": "staging-us", "revision": REVISION, "status": "succeeded"})
    );
    assert_eq!(
        env(container, "CFGUPDATE_DEPLOY_TOKEN")["valueFrom"]["secretKeyRef"],
        json!({"name": "cfgupdate-deploy-token", "key": "token"})
    );
    assert!(
        !container["command"].to_string().contains(TOKEN),
        "the token is never in the manifest"
    );

    let failed = job(&objects, "cfgupdate-sync-failed-staging-us");
    assert_eq!(
        failed["metadata"]["annotations"]["argocd.argoproj.io/hook"],
        "SyncFail"
    );
    let container = &failed["spec"]["template"]["spec"]["containers"][0];
    let body: Value = serde_json::from_str(
        env(container, "CFGUPDATE_REPORT")["value"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["status"], "failed");
}

#[test]
fn the_jsonnet_example_renders_the_same_objects_with_go_jsonnet() {
    let (ours, _) = render_example("$ARGOCD_APP_REVISION");
    let repo_files = vec![(
        "cfgupdate.toml".to_owned(),
        example_pipeline("$ARGOCD_APP_REVISION"),
    )];
    let repo = memory_repo(&repo_files);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let pipeline = read_pipeline(&RevisionFiles::new(&repo, &tip, &none), "in the test").unwrap();
    let targets = pipeline
        .targets
        .iter()
        .map(|(name, target)| (name.to_string(), target.clone()))
        .collect();
    let reference = gojsonnet_values(&workspace(), &[], &targets);
    let theirs: Vec<Value> = extract_objects(reference["staging-us"].clone())
        .unwrap()
        .into_iter()
        .map(|o| o.value)
        .collect();
    assert_eq!(ours, theirs);
    // Rendered by cfgupdate (not Argo CD), the placeholder stays, so committed YAML is stable.
    let deployed = job(&ours, "cfgupdate-deployed-staging-us");
    let report = env(
        &deployed["spec"]["template"]["spec"]["containers"][0],
        "CFGUPDATE_REPORT",
    );
    assert!(
        report["value"]
            .as_str()
            .unwrap()
            .contains("$ARGOCD_APP_REVISION")
    );
}

/// One HTTP request as the listener saw it.
#[derive(Debug)]
struct Request {
    request_line: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A listener on 127.0.0.1 that answers one request with `status` and `answer`, and returns
/// what it got.
fn listen_once(status: &'static str, answer: &'static str) -> (String, JoinHandle<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (key, value) = line.split_once(':').unwrap();
            headers.insert(key.to_ascii_lowercase(), value.trim().to_owned());
        }
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        Request {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    });
    (url, handle)
}

/// Runs a hook container's command as the kubelet would, with the Secret's value in its env
/// and `url` for the service; `extra` overrides other variables.
fn run_hook(container: &Value, url: &str, extra: &[(&str, &str)]) -> Output {
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap())
        .collect();
    let mut run = Command::new(command[0]);
    run.args(&command[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for variable in container["env"].as_array().unwrap() {
        let name = variable["name"].as_str().unwrap();
        let value = match name {
            "CFGUPDATE_URL" => url.to_owned(),
            "CFGUPDATE_DEPLOY_TOKEN" => TOKEN.to_owned(),
            _ => variable["value"].as_str().unwrap().to_owned(),
        };
        run.env(name, value);
    }
    run.envs(extra.iter().copied());
    run.output().unwrap()
}

fn deployed_hook_container() -> Value {
    let (objects, _) = render_example(REVISION);
    job(&objects, "cfgupdate-deployed-staging-us")["spec"]["template"]["spec"]["containers"][0]
        .clone()
}

#[test]
fn the_hook_job_command_posts_the_report_with_the_token_from_its_secret() {
    let container = deployed_hook_container();
    let (url, server) = listen_once("200 OK", r#"{"result":"recorded"}"#);
    let output = run_hook(&container, &url, &[]);
    assert!(output.status.success(), "{output:?}");

    let request = server.join().unwrap();
    assert_eq!(request.request_line, "POST /v1/deployments HTTP/1.1");
    assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(request.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"target": "staging-us", "revision": REVISION, "status": "succeeded"})
    );
}

/// A listener on 127.0.0.1 that answers one request after another with `answers` (status
/// line and body), then closes; returns how many requests it got.
fn listen_answering(answers: Vec<(&'static str, &'static str)>) -> (String, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let mut served = 0;
        for (status, answer) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end().to_ascii_lowercase();
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
            served += 1;
        }
        served
    });
    (url, handle)
}

const FAST_RETRY: &[(&str, &str)] = &[
    ("CFGUPDATE_ATTEMPTS", "3"),
    ("CFGUPDATE_RETRY_SECONDS", "0"),
];

#[test]
fn the_hook_job_retries_while_cfgupdate_is_unavailable_and_then_reports() {
    let container = deployed_hook_container();
    let unavailable = r#"{"error":"the remote is unavailable"}"#;
    let (url, server) = listen_answering(vec![
        ("503 Service Unavailable", unavailable),
        ("429 Too Many Requests", unavailable),
        ("200 OK", r#"{"result":"recorded"}"#),
    ]);
    let output = run_hook(&container, &url, FAST_RETRY);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(server.join().unwrap(), 3);
}

#[test]
fn the_hook_job_does_not_retry_an_answer_that_asking_again_will_not_change() {
    let container = deployed_hook_container();
    for (status, body) in [
        ("500 Internal Server Error", r#"{"error":"broken"}"#),
        (
            "502 Bad Gateway",
            r#"{"error":"the remote refused the push: protected"}"#,
        ),
        ("422 Unprocessable Entity", r#"{"error":"unknown target"}"#),
    ] {
        // A second request would find no listener: the hook must stop after the first.
        let (url, server) = listen_answering(vec![(status, body)]);
        let output = run_hook(&container, &url, FAST_RETRY);
        assert_eq!(output.status.code(), Some(1), "{status}: {output:?}");
        assert_eq!(server.join().unwrap(), 1, "{status}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(body),
            "the answer reaches the Job's log: {output:?}"
        );
    }
}

#[test]
fn the_hook_job_gives_up_after_its_attempts_when_nothing_answers() {
    let container = deployed_hook_container();
    // A port that was just free: connections are refused.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let output = run_hook(&container, &url, FAST_RETRY);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no answer after 3 attempts"),
        "{output:?}"
    );
}

/// The hook Jobs the library renders for each of `targets`, all in one namespace.
fn hooks_for(targets: &[&str]) -> Vec<Value> {
    let mut pipeline = format!(
        "[[wave]]\nname = \"staging\"\nimages = \"images/staging.json\"\ntargets = {targets:?}\n"
    );
    for target in targets {
        pipeline.push_str(&format!(
            "\n[target.{target:?}]\nentrypoint = \"hooks.jsonnet\"\next_vars = {{ cfgupdate_target = {target:?}, cfgupdate_revision = \"{REVISION}\" }}\n"
        ));
    }
    let files = vec![
        ("cfgupdate.toml".to_owned(), pipeline),
        ("images/staging.json".to_owned(), "{}\n".to_owned()),
        ("cfgupdate.libsonnet".to_owned(), read("jsonnet/cfgupdate.libsonnet")),
        (
            "hooks.jsonnet".to_owned(),
            "(import 'cfgupdate.libsonnet').fromExtVars('http://cfgupdate:8080', { namespace: 'shop' })\n"
                .to_owned(),
        ),
    ];
    let repo = memory_repo(&files);
    let tip = repo.tip().unwrap();
    let none = BTreeMap::new();
    let source = RevisionFiles::new(&repo, &tip, &none);
    let pipeline = read_pipeline(&source, "in the test").unwrap();
    let mut jobs = Vec::new();
    for target in pipeline.targets.values() {
        let rendered = render_target(&source, &pipeline, target, &RenderLimits::default()).unwrap();
        jobs.extend(rendered.objects.into_iter().map(|o| o.value));
    }
    jobs
}

#[test]
fn hook_jobs_of_targets_sharing_a_namespace_have_distinct_valid_names() {
    let long = "a".repeat(63);
    let targets = [
        "staging-us",
        "staging_us",
        "staging.us",
        "prod",
        long.as_str(),
    ];
    let jobs = hooks_for(&targets);
    assert_eq!(jobs.len(), targets.len() * 2);
    let names: std::collections::BTreeSet<String> = jobs
        .iter()
        .map(|job| job["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names.len(),
        jobs.len(),
        "no two Jobs share a name: {names:?}"
    );
    for name in &names {
        assert!(
            name.len() <= 63
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !name.starts_with('-')
                && !name.ends_with('-'),
            "{name} is not a valid Job name"
        );
    }
    assert!(names.contains("cfgupdate-deployed-staging-us"));
    assert!(names.contains("cfgupdate-sync-failed-prod"));
}

const ANNOUNCE: &str = "ci/announce.sh";
const APP_COMMIT: &str = "7d1043473d55bfa90e8530d35801d4e381bc69f0";
const DIGEST: &str = "sha256:4d8b6f3c1f0e0a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b";

fn announce(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(integrations().join(ANNOUNCE))
        .args(args)
        .env_remove("CFGUPDATE_CI_HMAC_SECRET")
        .env_remove("CFGUPDATE_CI_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn signature_of(body: &str, secret: &str) -> String {
    let output = announce(
        &["--print-signature"],
        &[("CFGUPDATE_CI_HMAC_SECRET", secret)],
        body,
    );
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn announce_script_is_valid_bash() {
    let output = Command::new("bash")
        .arg("-n")
        .arg(integrations().join(ANNOUNCE))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn announce_script_computes_the_hmac_sha256_of_rfc_4231() {
    // RFC 4231, test case 2.
    assert_eq!(
        signature_of("what do ya want for nothing?", "Jefe"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn announce_script_signs_exactly_the_body_it_sends() {
    let (url, server) = listen_once(
        "200 OK",
        r#"{"result":"committed","commit":"abc","wave":"staging"}"#,
    );
    let api = format!("registry.example.com/team/api:{APP_COMMIT}@{DIGEST}");
    let output = announce(
        &[
            "--build",
            "42",
            &url,
            APP_COMMIT,
            &format!("api={api}"),
            &format!("web=registry.example.com/team/web:{APP_COMMIT}@{DIGEST}"),
        ],
        &[("CFGUPDATE_CI_HMAC_SECRET", "s3cret")],
        "",
    );
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("committed"));

    let request = server.join().unwrap();
    assert_eq!(request.request_line, "POST /v1/images HTTP/1.1");
    assert!(!request.headers.contains_key("authorization"));
    assert_eq!(
        request.headers["x-hub-signature-256"],
        signature_of(&request.body, "s3cret")
    );
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "app_commit": APP_COMMIT,
            "images": {"api": api, "web": format!("registry.example.com/team/web:{APP_COMMIT}@{DIGEST}")},
            "build": {"number": 42}
        })
    );
}

#[test]
fn announce_script_sends_the_original_design_payload_with_a_bearer_token() {
    let (url, server) = listen_once("200 OK", r#"{"result":"unchanged"}"#);
    let output = announce(
        &[
            "--legacy",
            &url,
            APP_COMMIT,
            &format!("api=registry.example.com:5000/team/api:{APP_COMMIT}@{DIGEST}"),
        ],
        &[("CFGUPDATE_CI_TOKEN", "ci-token")],
        "",
    );
    assert!(output.status.success(), "{output:?}");

    let request = server.join().unwrap();
    assert_eq!(
        request.request_line,
        format!("POST /v1/images?app_commit={APP_COMMIT} HTTP/1.1")
    );
    assert_eq!(request.headers["authorization"], "Bearer ci-token");
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"api": {
            "Tag": format!("registry.example.com:5000/team/api:{APP_COMMIT}"),
            "Digest": format!("registry.example.com:5000/team/api@{DIGEST}"),
        }})
    );
}

#[test]
fn announce_script_refuses_an_image_without_a_digest_and_sends_nothing() {
    let output = announce(
        &[
            "http://127.0.0.1:9",
            APP_COMMIT,
            "api=registry.example.com/team/api:latest",
        ],
        &[("CFGUPDATE_CI_TOKEN", "ci-token")],
        "",
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("pinned by a sha256 digest"));
}

#[test]
fn announce_script_reports_the_services_refusal_with_its_answer() {
    let (url, server) = listen_once("409 Conflict", r#"{"error":"stale announcement"}"#);
    let api = format!("registry.example.com/team/api:{APP_COMMIT}@{DIGEST}");
    let output = announce(
        &[&url, APP_COMMIT, &format!("api={api}")],
        &[("CFGUPDATE_CI_TOKEN", "ci-token")],
        "",
    );
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(22), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("stale announcement"));
}

/// The notifications ConfigMap's `data`, and one trigger's conditions parsed.
fn notifications() -> Value {
    let config: Value =
        serde_saphyr::from_str(&read("argocd-notifications/argocd-notifications-cm.yaml")).unwrap();
    config["data"].clone()
}

fn trigger(data: &Value, name: &str) -> Value {
    let conditions: Value = serde_saphyr::from_str(data[name].as_str().unwrap()).unwrap();
    conditions[0].clone()
}

/// The Application as Argo CD shows it: `synced_to` is `status.sync.revision` (what Argo CD
/// wants deployed), `applied` the revision the last sync operation applied.
fn application(
    phase: &str,
    applied: Option<&str>,
    synced_to: &str,
    sync: &str,
    health: &str,
) -> Value {
    json!({
        "metadata": {"name": "cfg-app-staging-us"},
        "status": {
            "sync": {"status": sync, "revision": synced_to},
            "health": {"status": health},
            "operationState": {
                "phase": phase,
                "syncResult": applied.map(|revision| json!({"revision": revision})),
            },
        },
    })
}

/// What a trigger does for `app`: the body it would post (`None`: it does not fire).
fn fire(data: &Value, trigger_name: &str, app: &Value) -> Option<(String, Value)> {
    let condition = trigger(data, trigger_name);
    let env = json!({ "app": app });
    if !expr::eval(condition["when"].as_str().unwrap(), &env).unwrap() {
        return None;
    }
    let once_per = expr::path(condition["oncePer"].as_str().unwrap(), &env)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let template = condition["send"][0].as_str().unwrap();
    let template: Value =
        serde_saphyr::from_str(data[format!("template.{template}")].as_str().unwrap()).unwrap();
    let webhook = &template["webhook"]["cfgupdate"];
    assert_eq!(webhook["method"], "POST");
    assert_eq!(webhook["path"], "/v1/deployments");
    let body = expr::fill_template(webhook["body"].as_str().unwrap(), &env);
    Some((once_per, serde_json::from_str(&body).unwrap()))
}

const OLDER: &str = "1111111111111111111111111111111111111111";

#[test]
fn argocd_notifications_report_the_revision_the_last_sync_applied() {
    let data = notifications();
    let service: Value =
        serde_saphyr::from_str(data["service.webhook.cfgupdate"].as_str().unwrap()).unwrap();
    let headers = service["headers"].as_array().unwrap();
    assert!(
        headers
            .contains(&json!({"name": "Authorization", "value": "Bearer $cfgupdate-deploy-token"}))
    );

    // Synced to the revision the sync applied, healthy: deployed, once for that revision.
    let deployed = application("Succeeded", Some(REVISION), REVISION, "Synced", "Healthy");
    assert_eq!(
        fire(&data, "trigger.cfgupdate-on-deployed", &deployed),
        Some((
            REVISION.to_owned(),
            json!({"app": "cfg-app-staging-us", "revision": REVISION, "status": "succeeded"})
        ))
    );
    assert_eq!(
        fire(&data, "trigger.cfgupdate-on-sync-failed", &deployed),
        None
    );
}

#[test]
fn argocd_notifications_report_nothing_for_a_commit_that_is_not_deployed_yet() {
    // A new commit landed: Argo CD's `sync.revision` is already the new commit while the last
    // sync (of the older one) still shows Succeeded and Healthy. Reporting `sync.revision`
    // here would promote images that never ran.
    let data = notifications();
    let waiting = application("Succeeded", Some(OLDER), REVISION, "OutOfSync", "Healthy");
    assert_eq!(fire(&data, "trigger.cfgupdate-on-deployed", &waiting), None);
    // Still progressing: not healthy yet.
    let rolling = application(
        "Succeeded",
        Some(REVISION),
        REVISION,
        "Synced",
        "Progressing",
    );
    assert_eq!(fire(&data, "trigger.cfgupdate-on-deployed", &rolling), None);
    // Never synced by an operation yet.
    let fresh = json!({"metadata": {"name": "cfg-app-staging-us"},
        "status": {"sync": {"status": "Synced", "revision": REVISION}, "health": {"status": "Healthy"}}});
    assert_eq!(fire(&data, "trigger.cfgupdate-on-deployed", &fresh), None);
    assert_eq!(
        fire(&data, "trigger.cfgupdate-on-sync-failed", &fresh),
        None
    );
}

#[test]
fn argocd_notifications_report_a_failed_sync_of_the_revision_it_tried() {
    let data = notifications();
    let failed = application("Failed", Some(REVISION), REVISION, "OutOfSync", "Degraded");
    assert_eq!(
        fire(&data, "trigger.cfgupdate-on-sync-failed", &failed),
        Some((
            REVISION.to_owned(),
            json!({"app": "cfg-app-staging-us", "revision": REVISION, "status": "failed"})
        ))
    );
    // A manifest generation error applied nothing and names no revision: nothing to report.
    let nothing = application("Error", None, REVISION, "OutOfSync", "Healthy");
    assert_eq!(
        fire(&data, "trigger.cfgupdate-on-sync-failed", &nothing),
        None
    );
}

#[test]
fn argocd_notifications_never_report_a_degraded_spell_as_a_failed_deployment() {
    // A revision that ran and was reported deployed, then degraded for a while: no trigger
    // sends "failed" (which would block the wave until another commit).
    let data = notifications();
    let degraded = application("Succeeded", Some(REVISION), REVISION, "Synced", "Degraded");
    let triggers: Vec<String> = data
        .as_object()
        .unwrap()
        .keys()
        .filter(|key| key.starts_with("trigger."))
        .cloned()
        .collect();
    assert_eq!(
        triggers,
        [
            "trigger.cfgupdate-on-deployed",
            "trigger.cfgupdate-on-sync-failed"
        ]
    );
    for name in &triggers {
        assert_eq!(fire(&data, name, &degraded), None, "{name}");
    }
}

/// Just enough of the expression language of Argo CD Notifications (antonmedv/expr) and of Go
/// templates to run the ConfigMap's triggers and templates on an Application: `and`, `or`,
/// `not`, `==`, `!=`, `in [...]`, `nil`, quoted strings and member paths. Like expr, reading a
/// member of nil is an error, so an unguarded path fails the test.
mod expr {
    use serde_json::Value;

    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Word(String),
        Str(String),
        Op(&'static str),
    }

    fn tokens(text: &str) -> Result<Vec<Token>, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '\'' {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == '\'')
                    .ok_or("unterminated string")?;
                out.push(Token::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            } else if (c == '=' || c == '!') && chars.get(i + 1) == Some(&'=') {
                out.push(Token::Op(if c == '=' { "==" } else { "!=" }));
                i += 2;
            } else if "[],()".contains(c) {
                out.push(Token::Op(match c {
                    '[' => "[",
                    ']' => "]",
                    ',' => ",",
                    '(' => "(",
                    _ => ")",
                }));
                i += 1;
            } else if c.is_alphanumeric() || c == '_' || c == '.' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_.".contains(chars[i])) {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            } else {
                return Err(format!("unexpected {c:?} in {text}"));
            }
        }
        Ok(out)
    }

    /// A member path (`app.status.sync.revision`) read from `env`.
    pub fn path(path: &str, env: &Value) -> Result<Value, String> {
        let mut value = env;
        for part in path.split('.') {
            if value.is_null() {
                return Err(format!("cannot fetch {part} from nil in {path}"));
            }
            value = value.get(part).unwrap_or(&Value::Null);
        }
        Ok(value.clone())
    }

    struct Parser<'a> {
        tokens: Vec<Token>,
        at: usize,
        env: &'a Value,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<&Token> {
            self.tokens.get(self.at)
        }
        fn next(&mut self) -> Result<Token, String> {
            let token = self.tokens.get(self.at).cloned().ok_or("unexpected end")?;
            self.at += 1;
            Ok(token)
        }
        fn word(&self, word: &str) -> bool {
            self.peek() == Some(&Token::Word(word.to_owned()))
        }
        // `skip` evaluates nothing (the right side of a short-circuited `and`/`or`).
        fn or(&mut self, skip: bool) -> Result<bool, String> {
            let mut value = self.and(skip)?;
            while self.word("or") {
                self.at += 1;
                let right = self.and(skip || value)?;
                value = value || right;
            }
            Ok(value)
        }
        fn and(&mut self, skip: bool) -> Result<bool, String> {
            let mut value = self.not(skip)?;
            while self.word("and") {
                self.at += 1;
                let right = self.not(skip || !value)?;
                value = value && right;
            }
            Ok(value)
        }
        fn not(&mut self, skip: bool) -> Result<bool, String> {
            if self.word("not") {
                self.at += 1;
                return Ok(!self.not(skip)?);
            }
            self.comparison(skip)
        }
        fn comparison(&mut self, skip: bool) -> Result<bool, String> {
            if self.peek() == Some(&Token::Op("(")) {
                self.at += 1;
                let value = self.or(skip)?;
                if self.next()? != Token::Op(")") {
                    return Err("expected )".into());
                }
                return Ok(value);
            }
            let left = self.operand(skip)?;
            let result = match self.peek().cloned() {
                Some(Token::Op("==")) => {
                    self.at += 1;
                    left == self.operand(skip)?
                }
                Some(Token::Op("!=")) => {
                    self.at += 1;
                    left != self.operand(skip)?
                }
                Some(Token::Word(word)) if word == "in" => {
                    self.at += 1;
                    if self.next()? != Token::Op("[") {
                        return Err("expected [ after in".into());
                    }
                    let mut found = false;
                    loop {
                        let item = self.operand(skip)?;
                        found |= item == left;
                        match self.next()? {
                            Token::Op(",") => continue,
                            Token::Op("]") => break,
                            other => return Err(format!("unexpected {other:?} in list")),
                        }
                    }
                    found
                }
                _ => left.as_bool().ok_or(format!("{left} is not a boolean"))?,
            };
            Ok(result)
        }
        fn operand(&mut self, skip: bool) -> Result<Value, String> {
            match self.next()? {
                Token::Str(text) => Ok(Value::String(text)),
                Token::Word(word) if word == "nil" => Ok(Value::Null),
                Token::Word(word) if word == "true" => Ok(Value::Bool(true)),
                Token::Word(word) if word == "false" => Ok(Value::Bool(false)),
                Token::Word(word) if skip => Ok(Value::String(word)),
                Token::Word(word) => path(&word, self.env),
                other => Err(format!("unexpected {other:?}")),
            }
        }
    }

    /// Evaluates a trigger's `when` on `env`.
    pub fn eval(text: &str, env: &Value) -> Result<bool, String> {
        let mut parser = Parser {
            tokens: tokens(text)?,
            at: 0,
            env,
        };
        let value = parser.or(false)?;
        if parser.at != parser.tokens.len() {
            return Err(format!("trailing tokens in {text}"));
        }
        Ok(value)
    }

    /// A template body with every `{{.a.b}}` replaced by that path's value in `env`.
    pub fn fill_template(template: &str, env: &Value) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unterminated {{") + start;
            let field = rest[start + 2..end].trim().trim_start_matches('.');
            let value = path(field, env).expect("template field");
            out.push_str(value.as_str().expect("a string field"));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[test]
fn github_actions_workflow_announces_the_digest_its_build_pushed() {
    let workflow: Value = serde_saphyr::from_str(&read("ci/github-actions.yml")).unwrap();
    let steps = workflow["jobs"]["build"]["steps"].as_array().unwrap();
    let build = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action@"))
        })
        .unwrap();
    let id = build["id"].as_str().unwrap();
    assert!(
        build["with"]["tags"]
            .as_str()
            .unwrap()
            .ends_with(":${{ github.sha }}")
    );
    let announce = steps
        .iter()
        .find(|s| s["name"] == "Announce to cfgupdate")
        .unwrap();
    let env = &announce["env"];
    assert_eq!(
        env["IMAGE_REF"],
        format!("${{{{ env.IMAGE }}}}:${{{{ github.sha }}}}@${{{{ steps.{id}.outputs.digest }}}}")
    );
    assert_eq!(env["APP_COMMIT"], "${{ github.sha }}");
    assert!(announce["run"].as_str().unwrap().contains("/v1/images"));
}

#[test]
fn config_repository_ci_jobs_run_cfgupdate_check_on_changes_offline() {
    let github: Value = serde_saphyr::from_str(&read("ci/config-repo-check.yml")).unwrap();
    assert!(
        github["on"]
            .as_object()
            .unwrap()
            .contains_key("pull_request")
    );
    let steps = github["jobs"]["check"]["steps"].as_array().unwrap();
    let run = steps.iter().find_map(|s| s["run"].as_str()).unwrap();
    for expected in ["--network none", ":/repo:ro", "check -C /repo"] {
        assert!(run.contains(expected), "{expected} in {run}");
    }

    let gitlab: Value =
        serde_saphyr::from_str(&read("ci/config-repo-check.gitlab-ci.yml")).unwrap();
    let job = &gitlab["cfgupdate-check"];
    let script = job["script"][0].as_str().unwrap();
    for expected in ["--network none", ":/repo:ro", "check -C /repo"] {
        assert!(script.contains(expected), "{expected} in {script}");
    }
    assert!(job["rules"].to_string().contains("merge_request_event"));
}
