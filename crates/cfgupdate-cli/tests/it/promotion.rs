//! Promotion through the real binary against a real `git daemon`: deploy reports, status,
//! approval and history, with the pipeline state shared by separate processes on the remote.

use std::path::Path;
use std::process::{Command, Output};

use cfgupdate_tests::{GitDaemon, git};

const PIPELINE: &str = r#"[render]
output = "generated/{target}"

[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod"]
approval = true

[target.staging-us]
entrypoint = "envs/staging/main.jsonnet"

[target.staging-eu]
entrypoint = "envs/staging/main.jsonnet"
argocd_app = "cfg-app-staging-eu"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

fn reference(i: usize) -> String {
    format!("reg.example.com/api:{i:040x}@sha256:{i:064x}")
}

fn files() -> Vec<(&'static str, String)> {
    let deployment = |images: &str, namespace: &str| {
        format!(
            "local images = import '{images}';\n{{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {{ name: 'api', namespace: '{namespace}' }},\n  spec: {{ template: {{ spec: {{ containers: [{{ name: 'api', image: images.api }}] }} }} }} }}\n"
        )
    };
    vec![
        ("cfgupdate.toml", PIPELINE.to_owned()),
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
    bare: std::path::PathBuf,
    url: String,
    cache: tempfile::TempDir,
}

impl Remote {
    fn new() -> Self {
        let daemon = GitDaemon::start().unwrap();
        let files = files();
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

    /// Runs the binary with a fresh cache each time when `fresh_cache`, as separate hosts would.
    fn run(&self, args: &[&str]) -> Output {
        let own_cache = tempfile::tempdir().unwrap();
        let cache: &Path = if args.contains(&"deployed") {
            own_cache.path()
        } else {
            self.cache.path()
        };
        Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(args)
            .args(["--repo", &self.url])
            .env("CFGUPDATE_CACHE_DIR", cache)
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

    fn publish(&self, i: usize) -> String {
        self.ok(&[
            "publish",
            "--app-commit",
            &format!("{i:040x}"),
            "--image",
            &format!("api={}", reference(i)),
        ])
    }

    fn show(&self, path: &str) -> String {
        git(&self.bare, &["show", &format!("master:{path}")])
    }
}

#[test]
fn the_next_wave_receives_the_images_deployed_at_the_reported_revision_not_the_tip() {
    let remote = Remote::new();
    let first = remote.publish(1);
    let second = remote.publish(2);
    assert_ne!(first, second);
    // Both staging targets report the first revision after the second was published; each
    // report comes from a process with its own cache, as hooks on different hosts would.
    let output = remote.ok(&["deployed", "--target", "staging-us", "--revision", &first]);
    assert_eq!(output, "unchanged");
    let output = remote.run(&[
        "deployed",
        "--app",
        "cfg-app-staging-eu",
        "--revision",
        &first,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "unchanged");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("approval"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Production waits for approval; status says so, as text and as JSON.
    let status = remote.ok(&["status"]);
    assert!(status.contains("-> production: waiting"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&remote.ok(&["status", "--json"])).unwrap();
    assert_eq!(json["waves"][0]["promotion"]["gate"], "approval");
    assert_eq!(
        json["waves"][0]["promotion"]["source_revision"],
        first.as_str()
    );
    assert_eq!(
        json["waves"][0]["targets"][0]["last_report"]["status"],
        "succeeded"
    );

    let promoted = remote.ok(&["approve", "--wave", "production"]);
    assert_eq!(promoted.len(), 40, "{promoted}");
    let prod = remote.show("envs/prod/images.libsonnet");
    assert!(
        prod.contains(&reference(1)) && !prod.contains(&reference(2)),
        "{prod}"
    );
    assert!(prod.contains("// cfgupdate: api"), "{prod}");
    let yaml = remote.show("generated/prod/deployment-prod-api.yaml");
    assert!(yaml.contains(&reference(1)), "{yaml}");

    // History, newest first, from the trailers.
    let history: serde_json::Value =
        serde_json::from_str(&remote.ok(&["history", "--json"])).unwrap();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["approve", "publish", "publish"]);
    assert_eq!(history[0]["source_revision"], first.as_str());
    assert_eq!(history[0]["app_commits"][0], format!("{:040x}", 1));
    // The state lives beside the branch, not on it.
    let refs = git(&remote.bare, &["for-each-ref", "--format=%(refname)"]);
    assert!(refs.contains("refs/cfgupdate/state/master"), "{refs}");
    git(&remote.bare, &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn a_repeated_report_prints_unchanged_and_bad_reports_exit_2() {
    let remote = Remote::new();
    let first = remote.publish(1);
    remote.ok(&["deployed", "--target", "staging-us", "--revision", &first]);
    let tip = git(&remote.bare, &["rev-parse", "master"]);
    let state = git(&remote.bare, &["rev-parse", "refs/cfgupdate/state/master"]);
    assert_eq!(
        remote.ok(&["deployed", "--target", "staging-us", "--revision", &first]),
        "unchanged"
    );
    assert_eq!(
        git(&remote.bare, &["rev-parse", "refs/cfgupdate/state/master"]),
        state
    );
    assert_eq!(git(&remote.bare, &["rev-parse", "master"]), tip);

    for (args, named) in [
        (
            vec!["deployed", "--target", "nope", "--revision", first.as_str()],
            "nope",
        ),
        (
            vec!["deployed", "--target", "staging-us", "--revision", "1234"],
            "1234",
        ),
        (
            vec![
                "deployed",
                "--target",
                "staging-us",
                "--revision",
                &"e".repeat(40),
            ],
            "eeeeeeee",
        ),
        (
            vec!["promote", "--from", "qa", "--revision", first.as_str()],
            "qa",
        ),
        (vec!["approve", "--wave", "staging"], "staging"),
    ] {
        let output = remote.run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(named),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        git(&remote.bare, &["rev-parse", "refs/cfgupdate/state/master"]),
        state
    );
}

#[test]
fn a_manual_promotion_through_a_closed_gate_exits_3() {
    let remote = Remote::new();
    let first = remote.publish(1);
    let output = remote.run(&["promote", "--from", "staging", "--revision", &first]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("approval"));
}
