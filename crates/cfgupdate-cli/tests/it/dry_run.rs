//! `--dry-run` on `publish`, `promote`, `approve`, `rollback` and `release`, through the real binary against a real
//! `git daemon`: the commit that would be made is printed (subject, trailers, changed files
//! and their diff), it is the commit the real command then makes, and the remote's refs, the
//! branch and `refs/cfgupdate/state/*` alike, are byte-identical before and after. A refused
//! request exits as the real one does.

use std::process::{Command, Output};

use cfgupdate_tests::{GitDaemon, git};

const KEY: &str = "the state key of the dry-run tests";

const PIPELINE: &str = r#"[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "internal"
images = "images/internal.json"
targets = ["internal"]

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod"]
approval = true

[target.staging]
entrypoint = "envs/staging.jsonnet"

[target.internal]
entrypoint = "envs/internal.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

fn reference(i: usize) -> String {
    format!("reg.example.com/api:{i:040x}@sha256:{i:064x}")
}

fn image_file(i: usize) -> String {
    format!("{{\n  \"api\": \"{}\"\n}}\n", reference(i))
}

struct Remote {
    _daemon: GitDaemon,
    bare: std::path::PathBuf,
    url: String,
}

impl Remote {
    fn new() -> Self {
        let daemon = GitDaemon::start().unwrap();
        let pod = |images: &str| {
            format!(
                "local i = import '{images}';\n{{ apiVersion: 'v1', kind: 'Pod', metadata: {{ name: 'api' }}, spec: {{ containers: [{{ name: 'api', image: i.api }}] }} }}\n"
            )
        };
        let files = [
            ("cfgupdate.toml", PIPELINE.to_owned()),
            ("images/staging.json", image_file(0)),
            ("images/internal.json", image_file(0)),
            (
                "envs/prod/images.libsonnet",
                format!("{{\n  api: '{}',  // cfgupdate: api\n}}\n", reference(0)),
            ),
            ("envs/staging.jsonnet", pod("../images/staging.json")),
            ("envs/internal.jsonnet", pod("../images/internal.json")),
            ("envs/prod/main.jsonnet", pod("images.libsonnet")),
        ];
        let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let bare = daemon.create_remote("config.git", "master", &borrowed);
        let url = daemon.url("config.git");
        Self {
            _daemon: daemon,
            bare,
            url,
        }
    }

    /// The binary with the state key and a cache of its own, as a separate host would run it.
    fn run(&self, args: &[&str]) -> Output {
        let cache = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(args)
            .args(["--repo", &self.url])
            .env("CFGUPDATE_CACHE_DIR", cache.path())
            .env("CFGUPDATE_STATE_KEY", KEY)
            .env_remove("CFGUPDATE_STATE_KEY_FILE")
            .output()
            .expect("the binary runs")
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Every ref of the remote with the object it names, as `git for-each-ref` prints them.
    fn refs(&self) -> String {
        git(
            &self.bare,
            &["for-each-ref", "--format=%(objectname) %(refname)"],
        )
    }

    fn publish(&self, i: usize, dry_run: bool) -> Output {
        let app = format!("{i:040x}");
        let image = format!("api={}", reference(i));
        let mut args = vec!["publish", "--app-commit", &app, "--image", &image];
        if dry_run {
            args.push("--dry-run");
        }
        self.run(&args)
    }

    /// Publishes images 1 for real; staging and internal deploy them, so production waits
    /// for approval. Returns the publish commit and the promotion into internal.
    fn waiting_for_approval(&self) -> (String, String) {
        let published = self.publish(1, false);
        assert!(published.status.success(), "{published:?}");
        let published = String::from_utf8(published.stdout)
            .unwrap()
            .trim()
            .to_owned();
        let promoted = self
            .ok(&["deployed", "--target", "staging", "--revision", &published])
            .trim()
            .to_owned();
        assert_eq!(promoted.len(), 40, "{promoted}");
        let pending = self.run(&["deployed", "--target", "internal", "--revision", &promoted]);
        assert!(
            String::from_utf8_lossy(&pending.stderr).contains("approval"),
            "{pending:?}"
        );
        (published, promoted)
    }

    /// The message of the branch's newest commit, as git stores it.
    fn head_message(&self) -> String {
        git(&self.bare, &["log", "-1", "--format=%B", "master"])
    }
}

/// The message of the commit a dry run printed: the indented block after `would commit`.
fn printed_message(stdout: &str) -> String {
    let block = stdout
        .split_once("would commit on master, on top of ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no commit printed:\n{stdout}"));
    let mut message = String::new();
    for line in block.lines().skip(2) {
        if let Some(text) = line.strip_prefix("    ") {
            message.push_str(text);
            message.push('\n');
        } else if line.is_empty() {
            message.push('\n');
        } else {
            break;
        }
    }
    message.trim().to_owned()
}

fn assert_dry(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("dry run: nothing was pushed"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn publish_dry_run_prints_the_commit_and_pushes_neither_the_branch_nor_the_state() {
    let remote = Remote::new();
    let before = remote.refs();
    assert!(!before.contains("refs/cfgupdate/state/"), "{before}");
    let stdout = assert_dry(&remote.publish(1, true));
    assert_eq!(remote.refs(), before, "the remote's refs did not move");
    assert!(!stdout.contains("unchanged"), "{stdout}");
    // The state the first publish creates, and the commit.
    assert!(
        stdout.starts_with("would record in the pipeline state of master: "),
        "{stdout}"
    );
    for expected in [
        "    Cfgupdate-Action: publish\n",
        "    Cfgupdate-Wave: staging\n",
        &format!("    Cfgupdate-App-Commit: {:040x}\n", 1),
        " M images/staging.json\n",
        "diff --git a/images/staging.json b/images/staging.json\n",
        &format!("-  \"api\": \"{}\"\n", reference(0)),
        &format!("+  \"api\": \"{}\"\n", reference(1)),
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    assert!(printed_message(&stdout).starts_with("Publish"), "{stdout}");
    let real = remote.publish(1, false);
    assert!(real.status.success(), "{real:?}");
    // Published now: its dry run would push nothing.
    assert_eq!(assert_dry(&remote.publish(1, true)), "unchanged\n");

    // With the state in place, the dry run prints the very commit the real publish makes
    // (the first one records the position of a state made at another time).
    let before = remote.refs();
    let stdout = assert_dry(&remote.publish(2, true));
    assert_eq!(remote.refs(), before, "the remote's refs did not move");
    assert!(stdout.starts_with("would commit on master"), "{stdout}");
    let printed = printed_message(&stdout);
    let real = remote.publish(2, false);
    assert!(real.status.success(), "{real:?}");
    assert_eq!(remote.head_message().trim(), printed);
}

#[test]
fn promote_dry_run_prints_the_promotion_the_real_command_then_makes() {
    let remote = Remote::new();
    let published = remote.publish(1, false);
    let published = String::from_utf8(published.stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(published.len(), 40);
    let before = remote.refs();
    let args = [
        "promote",
        "--from",
        "staging",
        "--revision",
        &published,
        "--dry-run",
    ];
    let stdout = assert_dry(&remote.run(&args));
    assert_eq!(remote.refs(), before, "the remote's refs did not move");
    let tip = git(&remote.bare, &["rev-parse", "master"]);
    assert!(
        stdout.starts_with(&format!(
            "would commit on master, on top of {}:\n",
            tip.trim()
        )),
        "{stdout}"
    );
    for expected in [
        "    Cfgupdate-Action: promote\n",
        "    Cfgupdate-Wave: internal\n",
        "    Cfgupdate-Source-Wave: staging\n",
        &format!("    Cfgupdate-Source-Revision: {published}\n"),
        " M images/internal.json\n",
        &format!("+  \"api\": \"{}\"\n", reference(1)),
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    let printed = printed_message(&stdout);
    let promoted = remote.ok(&args[..args.len() - 1]);
    assert_eq!(promoted.trim().len(), 40, "{promoted}");
    assert_eq!(remote.head_message().trim(), printed);
}

#[test]
fn approve_dry_run_prints_the_approval_and_the_promotion_and_records_neither() {
    let remote = Remote::new();
    let (_, promoted) = remote.waiting_for_approval();
    let before = remote.refs();
    assert!(
        before.contains("refs/cfgupdate/state/master"),
        "the state exists: {before}"
    );
    let args = [
        "approve",
        "--wave",
        "production",
        "--by",
        "alice",
        "--dry-run",
    ];
    let stdout = assert_dry(&remote.run(&args));
    assert_eq!(remote.refs(), before, "the remote's refs did not move");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(
            "would record in the pipeline state of master: Approve 1 images into production from revision "
        ) && first.ends_with(" (by alice)"),
        "{stdout}"
    );
    for expected in [
        "    Cfgupdate-Action: approve\n",
        "    Cfgupdate-Wave: production\n",
        "    Cfgupdate-Approved-By: alice\n",
        &format!("    Cfgupdate-Source-Revision: {promoted}\n"),
        " M envs/prod/images.libsonnet\n",
        &format!("-  api: '{}',  // cfgupdate: api\n", reference(0)),
        &format!("+  api: '{}',  // cfgupdate: api\n", reference(1)),
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    // Nothing was approved: production still waits.
    let status: serde_json::Value =
        serde_json::from_str(&remote.ok(&["status", "--json"])).unwrap();
    assert_eq!(
        status["waves"][1]["promotion"]["gate"], "approval",
        "{status}"
    );

    let printed = printed_message(&stdout);
    let approved = remote.ok(&args[..args.len() - 1]);
    assert_eq!(approved.trim().len(), 40, "{approved}");
    assert_eq!(remote.head_message().trim(), printed);
}

#[test]
fn a_refused_dry_run_exits_as_the_real_command_and_moves_nothing() {
    let remote = Remote::new();
    let (_, promoted) = remote.waiting_for_approval();
    let before = remote.refs();
    let cases: [&[&str]; 3] = [
        // A closed approval gate: refused by policy, exit 3.
        &["promote", "--from", "internal", "--revision", &promoted],
        // No such wave: exit 2.
        &["approve", "--wave", "qa"],
        // A revision off the branch: exit 2.
        &[
            "promote",
            "--from",
            "staging",
            "--revision",
            &"e".repeat(40),
        ],
    ];
    for args in cases {
        let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
        let dry = remote.run(&dry);
        assert_eq!(remote.refs(), before, "{args:?}");
        let real = remote.run(args);
        assert_eq!(remote.refs(), before, "{args:?}");
        assert!(
            matches!(real.status.code(), Some(2 | 3)),
            "{args:?}: {real:?}"
        );
        assert_eq!(dry.status.code(), real.status.code(), "{args:?}: {dry:?}");
        // The same sentence, and the dry run says it pushed nothing.
        let error = |output: &Output| {
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .filter(|line| !line.starts_with("dry run: "))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(error(&dry), error(&real), "{args:?}");
        assert!(dry.stdout.is_empty(), "{args:?}: {dry:?}");
    }
}

#[test]
fn rollback_and_release_dry_runs_print_what_they_would_do_and_move_nothing() {
    let remote = Remote::new();
    let first = remote.publish(1, false);
    assert!(first.status.success(), "{first:?}");
    let first = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    let second = remote.publish(2, false);
    assert!(second.status.success(), "{second:?}");

    // Staging back to what it held at the first publish: the rollback commit, not pushed.
    let before = remote.refs();
    let stdout = assert_dry(&remote.run(&[
        "rollback",
        "--wave",
        "staging",
        "--to-revision",
        &first,
        "--dry-run",
    ]));
    assert_eq!(remote.refs(), before, "the remote's refs did not move");
    for expected in [
        "    Cfgupdate-Action: rollback\n",
        "    Cfgupdate-Wave: staging\n",
        " M images/staging.json\n",
        &format!("-  \"api\": \"{}\"\n", reference(2)),
        &format!("+  \"api\": \"{}\"\n", reference(1)),
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    let printed = printed_message(&stdout);
    remote.ok(&["rollback", "--wave", "staging", "--to-revision", &first]);
    assert_eq!(remote.head_message().trim(), printed);

    // Releasing the hold: a state record only, not pushed; the hold stays.
    let before = remote.refs();
    let stdout = assert_dry(&remote.run(&["release", "--wave", "staging", "--dry-run"]));
    assert_eq!(remote.refs(), before, "the remote's refs did not move");
    assert!(
        stdout.starts_with("would record in the pipeline state of master: "),
        "{stdout}"
    );
    let held = remote.run(&[
        "publish",
        "--app-commit",
        &format!("{:040x}", 3),
        "--image",
        &format!("api={}", reference(3)),
    ]);
    assert_eq!(held.status.code(), Some(3), "still held: {held:?}");
}
