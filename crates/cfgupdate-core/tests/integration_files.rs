//! The integration files of `integrations/` (docs/integrations.md) do what they say: the Jsonnet
//! library renders, with cfgupdate's renderer and with go-jsonnet, into an Argo CD PostSync hook
//! Job whose command really reports the deployment; the CI script sends the payloads and the
//! HMAC of the contract; the Argo CD Notifications templates make the `/v1/deployments` JSON;
//! the GitHub Actions workflow announces the digest its build pushed.
//!
//! The hook's command and the CI script run for real, with `sh`, `bash`, `curl` and `openssl`,
//! against a listener on 127.0.0.1 that records the one request it gets.

mod render_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};

use cfgupdate_core::ConfigRepository;
use cfgupdate_core::render::objects::extract;
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
    assert!(files.contains_key("job-shop-cfgupdate-deployed.yaml"));

    let deployed = job(&objects, "cfgupdate-deployed");
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

    let failed = job(&objects, "cfgupdate-sync-failed");
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
    let theirs: Vec<Value> = extract(reference["staging-us"].clone())
        .unwrap()
        .into_iter()
        .map(|o| o.value)
        .collect();
    assert_eq!(ours, theirs);
    // Rendered by cfgupdate (not Argo CD), the placeholder stays, so committed YAML is stable.
    let deployed = job(&ours, "cfgupdate-deployed");
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

#[test]
fn the_hook_job_command_posts_the_report_with_the_token_from_its_secret() {
    let (objects, _) = render_example(REVISION);
    let container =
        &job(&objects, "cfgupdate-deployed")["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap())
        .collect();
    let (url, server) = listen_once("200 OK", r#"{"result":"recorded"}"#);

    // Run the container's command as the kubelet would, with the Secret's value in its env.
    let mut run = Command::new(command[0]);
    run.args(&command[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for variable in container["env"].as_array().unwrap() {
        let name = variable["name"].as_str().unwrap();
        let value = match name {
            "CFGUPDATE_URL" => url.clone(),
            "CFGUPDATE_DEPLOY_TOKEN" => TOKEN.to_owned(),
            _ => variable["value"].as_str().unwrap().to_owned(),
        };
        run.env(name, value);
    }
    let output = run.output().unwrap();
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

/// A Go template's `{{.app.metadata.name}}`-style fields replaced by values.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (field, value)| {
            text.replace(&format!("{{{{{field}}}}}"), value)
        })
}

#[test]
fn argocd_notifications_templates_post_the_deployments_json_and_every_trigger_sends_one() {
    let config: Value =
        serde_saphyr::from_str(&read("argocd-notifications/argocd-notifications-cm.yaml")).unwrap();
    let data = &config["data"];
    let service: Value =
        serde_saphyr::from_str(data["service.webhook.cfgupdate"].as_str().unwrap()).unwrap();
    let headers = service["headers"].as_array().unwrap();
    assert!(
        headers
            .contains(&json!({"name": "Authorization", "value": "Bearer $cfgupdate-deploy-token"}))
    );

    let values = [
        (".app.metadata.name", "cfg-app-staging-us"),
        (".app.status.sync.revision", REVISION),
    ];
    for (template, status) in [
        ("template.cfgupdate-deployed", "succeeded"),
        ("template.cfgupdate-failed", "failed"),
    ] {
        let template: Value = serde_saphyr::from_str(data[template].as_str().unwrap()).unwrap();
        let webhook = &template["webhook"]["cfgupdate"];
        assert_eq!(webhook["method"], "POST");
        assert_eq!(webhook["path"], "/v1/deployments");
        let body: Value =
            serde_json::from_str(&fill(webhook["body"].as_str().unwrap(), &values)).unwrap();
        assert_eq!(
            body,
            json!({"app": "cfg-app-staging-us", "revision": REVISION, "status": status})
        );
    }

    let mut sent = BTreeMap::new();
    for (trigger, template) in [
        ("trigger.cfgupdate-on-deployed", "cfgupdate-deployed"),
        ("trigger.cfgupdate-on-sync-failed", "cfgupdate-failed"),
        ("trigger.cfgupdate-on-health-degraded", "cfgupdate-failed"),
    ] {
        let conditions: Value = serde_saphyr::from_str(data[trigger].as_str().unwrap()).unwrap();
        let condition = &conditions[0];
        assert_eq!(condition["send"], json!([template]), "{trigger}");
        assert_eq!(
            condition["oncePer"], "app.status.sync.revision",
            "{trigger}"
        );
        assert!(data[format!("template.{template}")].is_string());
        sent.insert(trigger, condition["when"].as_str().unwrap().to_owned());
    }
    assert!(sent["trigger.cfgupdate-on-deployed"].contains("'Healthy'"));
    assert!(sent["trigger.cfgupdate-on-health-degraded"].contains("'Degraded'"));
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
