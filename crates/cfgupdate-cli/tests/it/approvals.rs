//! Accountable, per-candidate approvals and `advance`, through the real binary and the real
//! service against a real `git daemon` (docs/promotion.md, "Approvals" and "advance").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cfgupdate_tests::{GitDaemon, git};

use crate::serve_support::{Options, Server, post_as, trailer_values};

/// Production needs approval and a short soak, so that approvals can be given while it runs
/// and `advance` has something to do once it has passed.
const PIPELINE: &str = r#"[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod"]
approval = true
soak = "8s"

[target.staging]
entrypoint = "envs/staging/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

const SOAK: Duration = Duration::from_secs(8);

fn reference(i: usize) -> String {
    format!("reg.example.com/api:v{i}@sha256:{i:064x}")
}

fn files(pipeline: &str) -> Vec<(&'static str, String)> {
    let deployment = |images: &str, namespace: &str| {
        format!(
            "local images = import '{images}';\n{{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: 'api', namespace: '{namespace}' }},\n  spec: {{ template: {{ spec: {{ containers: [{{ name: 'api', image: images.api }}] }} }} }} }}\n"
        )
    };
    vec![
        ("cfgupdate.toml", pipeline.to_owned()),
        (
            "images/staging.json",
            format!("{{\n  \"api\": \"{}\"\n}}\n", reference(0)),
        ),
        (
            "envs/prod/images.libsonnet",
            format!("{{\n  api: '{}',  // cfgupdate: api\n}}\n", reference(0)),
        ),
        (
            "envs/staging/main.jsonnet",
            deployment("../../images/staging.json", "staging"),
        ),
        (
            "envs/prod/main.jsonnet",
            deployment("images.libsonnet", "prod"),
        ),
    ]
}

struct Remote {
    _daemon: GitDaemon,
    bare: PathBuf,
    url: String,
    cache: tempfile::TempDir,
}

impl Remote {
    fn new(pipeline: &str) -> Self {
        let daemon = GitDaemon::start().unwrap();
        let files = files(pipeline);
        let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let bare = daemon.create_remote("config.git", "master", &borrowed);
        let url = daemon.url("config.git");
        Self {
            _daemon: daemon,
            bare,
            url,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(args)
            .args(["--repo", &self.url])
            .env("CFGUPDATE_CACHE_DIR", self.cache.path())
            .env_remove("CFGUPDATE_STATE_KEY")
            .output()
            .expect("the binary runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Publishes image `i` (as app commit `app`) into staging and has staging deploy it:
    /// production's candidate from the returned revision.
    fn candidate(&self, app: usize, i: usize) -> String {
        let revision = self.ok(&[
            "publish",
            "--app-commit",
            &format!("{app:040x}"),
            "--image",
            &format!("api={}", reference(i)),
        ]);
        assert_eq!(revision.len(), 40, "{revision}");
        self.ok(&["deployed", "--target", "staging", "--revision", &revision]);
        revision
    }

    fn prod(&self) -> String {
        git(&self.bare, &["show", "master:envs/prod/images.libsonnet"])
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn advance_promotes_once_the_soak_passed_and_an_approval_counts_for_one_candidate_only() {
    let remote = Remote::new(PIPELINE);
    let x = remote.candidate(1, 1);
    // Nothing is due yet: the soak runs.
    let output = remote.run(&["advance"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "unchanged\n");
    assert!(
        stderr(&output).contains("the next soak gate opens at"),
        "{}",
        stderr(&output)
    );
    // Status names the wait in one sentence, and the candidate apart from the tip's images.
    let status = remote.ok(&["status"]);
    assert!(
        status.contains("-> production: waiting: promotion into `production` waits for its soak: "),
        "{status}"
    );
    assert!(
        status.contains(&format!("candidate source_revision {x}")),
        "{status}"
    );
    assert!(status.contains("images (at the branch tip"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&remote.ok(&["status", "--json"])).unwrap();
    let step = &json["waves"][0]["promotion"];
    assert_eq!(step["source_revision"], x.as_str());
    // The same sentence (the seconds left move on between the two reads; the end does not).
    let wait = step["wait"].as_str().unwrap();
    let until = format!("left, until {}", step["ready_at"].as_str().unwrap());
    assert!(
        wait.ends_with(&until) && status.contains(&until),
        "{status}\n{step}"
    );
    assert!(
        wait.starts_with("promotion into `production` waits for its soak: "),
        "{wait}"
    );

    // X is approved while the soak runs: recorded, nothing promoted yet.
    let output = remote.run(&[
        "approve",
        "--wave",
        "production",
        "--revision",
        &x,
        "--by",
        "alice",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "unchanged\n");
    // Y becomes the candidate: approving X now is refused, naming both revisions.
    let y = remote.candidate(2, 2);
    let output = remote.run(&[
        "approve",
        "--wave",
        "production",
        "--revision",
        &x,
        "--by",
        "alice",
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(said.contains(&x) && said.contains(&y), "{said}");
    // One sentence (beside the warning that the state is not authenticated).
    let sentences: Vec<&str> = said
        .lines()
        .filter(|line| !line.starts_with("cfgupdate: warning:"))
        .collect();
    assert_eq!(sentences.len(), 1, "{said}");
    // X again: its old approval lapsed when Y was deployed in between.
    let x_again = remote.candidate(3, 1);
    std::thread::sleep(SOAK + Duration::from_secs(1));
    assert_eq!(remote.ok(&["advance"]), "unchanged");
    let status = remote.ok(&["status"]);
    assert!(
        status.contains(&format!("waits for approval of revision {x_again}")),
        "{status}"
    );
    assert!(remote.prod().contains(&reference(0)));
    let promoted = remote.ok(&[
        "approve",
        "--wave",
        "production",
        "--revision",
        &x_again,
        "--by",
        "bob",
    ]);
    assert_eq!(promoted.len(), 40, "{promoted}");
    assert!(remote.prod().contains(&reference(1)), "{}", remote.prod());
    assert_eq!(
        trailer_values(&remote.bare, "Cfgupdate-Approved-By"),
        ["bob"]
    );

    // The next candidate is approved during its soak; `advance` promotes it once the soak
    // passed, naming its approver.
    let next = remote.candidate(4, 4);
    remote.ok(&[
        "approve",
        "--wave",
        "production",
        "--revision",
        &next,
        "--by",
        "carol",
    ]);
    std::thread::sleep(SOAK + Duration::from_secs(1));
    let output = remote.run(&["advance"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let tip = git(&remote.bare, &["rev-parse", "master"]);
    assert_eq!(stdout.trim(), tip.trim(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("into `production`"),
        "{}",
        stderr(&output)
    );
    assert!(remote.prod().contains(&reference(4)));
    let message = git(&remote.bare, &["log", "-1", "--format=%B", "master"]);
    assert!(
        message.contains("Cfgupdate-Approved-By: carol"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Cfgupdate-Source-Revision: {next}")),
        "{message}"
    );
    // Nothing more is due.
    assert_eq!(remote.ok(&["advance"]), "unchanged");

    // History filters, done by the core: the production promotions only, by service and time.
    let history: serde_json::Value = serde_json::from_str(&remote.ok(&[
        "history",
        "--json",
        "--wave",
        "production",
        "--service",
        "api",
        "--since",
        "2000-01-01",
    ]))
    .unwrap();
    let waves: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["wave"].as_str().unwrap())
        .collect();
    assert_eq!(waves, ["production", "production"]);
    assert_eq!(history[0]["approved_by"], "carol");
    let none = remote.ok(&["history", "--until", "2000-01-01"]);
    assert_eq!(none, "no automatic commit matches");
    let output = remote.run(&["history", "--since", "last tuesday"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--since: last tuesday is neither an RFC 3339 time"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn approving_a_wave_without_an_approval_gate_or_an_unknown_wave_exits_2() {
    let remote = Remote::new(PIPELINE);
    let output = remote.run(&["approve", "--wave", "staging"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let output = remote.run(&["approve", "--wave", "prodution"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("production"),
        "{}",
        stderr(&output)
    );
    let no_gate = Remote::new(&PIPELINE.replace("approval = true\n", ""));
    let output = no_gate.run(&["approve", "--wave", "production"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no approval gate"),
        "{}",
        stderr(&output)
    );
}

fn serve(remote: &Remote, dir: &Path) -> Server {
    let tokens = dir.join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"dana\"\nscope = \"admin\"\nsha256 = \"{}\"\n",
            cfgupdate_http::token_sha256(b"dana-secret")
        ),
    )
    .unwrap();
    Server::start(Options {
        repo: &remote.url,
        cache: &dir.join("cache"),
        log: dir.join("serve.log"),
        env: vec![("CFGUPDATE_TOKENS_FILE", tokens.display().to_string())],
        args: vec![],
    })
}

#[test]
fn the_service_refuses_a_stale_candidate_with_409_and_names_the_token_s_owner_as_approver() {
    let remote = Remote::new(&PIPELINE.replace("soak = \"8s\"\n", ""));
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&remote, dir.path());
    let x = remote.candidate(1, 1);
    let y = remote.candidate(2, 2);
    let body = |revision: &str| {
        serde_json::json!({"wave": "production", "revision": revision}).to_string()
    };
    let answer = post_as(&server.at("/v1/approvals"), "dana-secret", &body(&x));
    assert_eq!(answer.status, 409, "{}", answer.text);
    let error = answer.error();
    assert!(error.contains(&x) && error.contains(&y), "{error}");
    assert!(remote.prod().contains(&reference(0)));
    let answer = post_as(&server.at("/v1/approvals"), "dana-secret", &body(&y));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "promoted", "{}", answer.text);
    assert!(remote.prod().contains(&reference(2)));
    assert_eq!(
        trailer_values(&remote.bare, "Cfgupdate-Approved-By"),
        ["dana"]
    );
    // A revision that is not a commit id is the request's fault.
    let answer = post_as(&server.at("/v1/approvals"), "dana-secret", &body("abc"));
    assert_eq!(answer.status, 422, "{}", answer.text);
}
