//! The real `cfgupdate serve` as a child process, a config repository whose every wave renders,
//! and a small HTTP client, for the `serve_*` tests.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cfgupdate_tests::git;
use serde_json::Value;

pub const CI_TOKEN: &str = "ci-token-7f3a";
pub const DEPLOY_TOKEN: &str = "deploy-token-91c2";
pub const ADMIN_TOKEN: &str = "admin-token-44d0";
pub const HMAC_SECRET: &str = "hmac-secret-0b5e";

/// Three waves in the three image-set formats: staging in Jsonnet slots (two targets),
/// internal in a JSON file behind a soak gate, production in the two-file layout behind an
/// approval gate.
pub const PIPELINE: &str = r#"[[wave]]
name = "staging"
images = { jsonnet = ["envs/staging/images.libsonnet"] }
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "internal"
images = "images/internal.json"
targets = ["internal"]
soak = "2s"

[[wave]]
name = "production"
images = { tags = "images/prod/tags.json", digests = "images/prod/digests.json" }
targets = ["prod"]
approval = true

[target.staging-us]
entrypoint = "envs/staging/main.jsonnet"
ext_vars = { region = "us" }
argocd_app = "cfg-app-staging-us"

[target.staging-eu]
entrypoint = "envs/staging/main.jsonnet"
ext_vars = { region = "eu" }
argocd_app = "cfg-app-staging-eu"

[target.internal]
entrypoint = "envs/internal/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

/// The services every wave deploys.
pub const SERVICES: [&str; 4] = ["api", "web", "worker", "cron"];

pub fn zero(service: &str) -> String {
    format!("reg.example.com/{service}:0@sha256:{}", "0".repeat(64))
}

fn staging_images() -> String {
    let fields: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("  {s}: '{}',", zero(s)))
        .collect();
    format!("{{\n{}\n}}\n", fields.join("\n"))
}

fn internal_images() -> String {
    let fields: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("  \"{s}\": \"{}\"", zero(s)))
        .collect();
    format!("{{\n{}\n}}\n", fields.join(",\n"))
}

fn prod_file(part: &str) -> String {
    let fields: Vec<String> = SERVICES
        .iter()
        .map(|s| {
            let value = match part {
                "tags" => format!("reg.example.com/{s}:0"),
                _ => format!("reg.example.com/{s}@sha256:{}", "0".repeat(64)),
            };
            format!("  \"{s}\": \"{value}\"")
        })
        .collect();
    format!("{{\n{}\n}}\n", fields.join(",\n"))
}

/// An entrypoint with one Deployment per service, its image read by `image`.
fn entrypoint(prelude: &str, image: &str, namespace: &str) -> String {
    let services: Vec<String> = SERVICES.iter().map(|s| format!("'{s}'")).collect();
    format!(
        "{prelude}\n[\n  {{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: s, namespace: {namespace} }},\n    spec: {{ template: {{ spec: {{ containers: [{{ name: s, image: {image} }}] }} }} }} }}\n  for s in [{}]\n]\n",
        services.join(", ")
    )
}

/// The files of the config repository.
pub fn files() -> Vec<(String, String)> {
    vec![
        ("cfgupdate.toml".into(), PIPELINE.into()),
        ("envs/staging/images.libsonnet".into(), staging_images()),
        ("images/internal.json".into(), internal_images()),
        ("images/prod/tags.json".into(), prod_file("tags")),
        ("images/prod/digests.json".into(), prod_file("digests")),
        (
            "envs/staging/main.jsonnet".into(),
            entrypoint(
                "local images = import 'images.libsonnet';",
                "images[s]",
                "'staging-' + std.extVar('region')",
            ),
        ),
        (
            "envs/internal/main.jsonnet".into(),
            entrypoint(
                "local images = import '../../images/internal.json';",
                "images[s]",
                "'internal'",
            ),
        ),
        (
            "envs/prod/main.jsonnet".into(),
            entrypoint(
                "local tags = import '../../images/prod/tags.json';\nlocal digests = import '../../images/prod/digests.json';",
                "tags[s] + '@' + std.split(digests[s], '@')[1]",
                "'prod'",
            ),
        ),
        ("README.md".into(), "config\n".into()),
    ]
}

pub fn file_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect()
}

/// The 40-hex app commit number `i`.
pub fn app(i: usize) -> String {
    format!("{i:040x}")
}

/// The image of `service` built from app commit `i`.
pub fn reference(service: &str, i: usize) -> String {
    format!("reg.example.com/{service}:{}@sha256:{:064x}", app(i), i)
}

/// The contract's announcement body.
pub fn announcement(i: usize, service: &str) -> String {
    serde_json::json!({ "app_commit": app(i), "images": { service: reference(service, i) } })
        .to_string()
}

/// A running `cfgupdate serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: PathBuf,
}

/// How to start a server.
pub struct Options<'a> {
    pub repo: &'a str,
    pub cache: &'a Path,
    pub log: PathBuf,
    pub env: Vec<(&'a str, String)>,
    pub args: Vec<&'a str>,
}

/// The variables of every credential, set.
pub fn all_credentials() -> Vec<(&'static str, String)> {
    vec![
        ("CFGUPDATE_CI_TOKEN", CI_TOKEN.into()),
        ("CFGUPDATE_DEPLOY_TOKEN", DEPLOY_TOKEN.into()),
        ("CFGUPDATE_ADMIN_TOKEN", ADMIN_TOKEN.into()),
        ("CFGUPDATE_CI_HMAC_SECRET", HMAC_SECRET.into()),
    ]
}

impl Server {
    /// Starts `cfgupdate serve` on a free loopback port and waits until it listens.
    pub fn start(options: Options<'_>) -> Server {
        let log = File::create(&options.log).expect("a log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
        command
            .args(["serve", "--repo", options.repo, "--listen", "127.0.0.1:0"])
            .args(&options.args)
            .env("CFGUPDATE_CACHE_DIR", options.cache)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for name in [
            "CFGUPDATE_CI_TOKEN",
            "CFGUPDATE_DEPLOY_TOKEN",
            "CFGUPDATE_ADMIN_TOKEN",
            "CFGUPDATE_CI_HMAC_SECRET",
            "CFGUPDATE_LISTEN",
            "CFGUPDATE_LOG",
        ] {
            command.env_remove(name);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a line on stdout");
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve did not start: {line:?}; its log:\n{}",
                std::fs::read_to_string(&options.log).unwrap_or_default()
            );
        };
        Server {
            child,
            url: url.to_owned(),
            log: options.log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The sentence of an error answer.
    pub fn error(&self) -> String {
        let json = self.json();
        let error = json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error sentence: {}", self.text));
        assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
        error.to_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.expect("the request was answered");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        headers,
        text,
    }
}

/// POSTs `body` with `Content-Type: application/json` and `headers`.
pub fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    answer(try_post(url, headers, body))
}

/// POSTs, returning the transport error instead of panicking on it.
pub fn try_post(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let mut request = agent().post(url);
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("Content-Type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send(body)
}

/// POSTs with a bearer token.
pub fn post_as(url: &str, token: &str, body: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    post(url, &[("Authorization", &bearer)], body)
}

/// Turns a `try_post` into an answer.
pub fn into_answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    answer(response)
}

pub fn get(url: &str) -> Answer {
    answer(agent().get(url).call())
}

/// The request's method, any method.
pub fn request(method: &str, url: &str) -> Answer {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .expect("a request");
    answer(agent().run(request))
}

/// Every value of one trailer over the branch, as the git CLI reads them.
pub fn trailer_values(bare: &Path, key: &str) -> Vec<String> {
    let format = format!("--format=%(trailers:key={key},valueonly,separator=%x2C)");
    git(bare, &["log", &format, "master"])
        .split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The subjects of the branch, oldest first.
pub fn subjects(bare: &Path) -> Vec<String> {
    git(bare, &["log", "--reverse", "--format=%s", "master"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `check` holds, up to `within`.
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub mod faults;
