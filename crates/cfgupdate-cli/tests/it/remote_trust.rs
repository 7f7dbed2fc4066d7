//! The binary against a remote that rewinds, loses its branch or says no (issue 10, findings
//! 3, 4 and 8): a real `git daemon`, a person with the git CLI, and the server's own hooks.

use crate::serve_support;

use std::process::{Command, Output, Stdio};

use cfgupdate_tests::{GitDaemon, Person, git, install_hook, try_git};

const PIPELINE: &str = r#"[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]

[target.staging]
entrypoint = "envs/staging/main.jsonnet"

[target.prod]
entrypoint = "envs/prod/main.jsonnet"
"#;

/// Each target runs a Pod per service of its wave's image file, so every write has an effect
/// the effect check can see.
const STAGING: &str = "local images = import '../../images/staging.json';\n[{ apiVersion: 'v1', kind: 'Pod', metadata: { name: s }, spec: { containers: [{ name: s, image: images[s] }] } } for s in std.objectFields(images)]\n";
const PRODUCTION: &str = "local images = import '../../images/production.json';\n[{ apiVersion: 'v1', kind: 'Pod', metadata: { name: s }, spec: { containers: [{ name: s, image: images[s] }] } } for s in std.objectFields(images)]\n";

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cfgupdate.toml", PIPELINE),
        ("images/staging.json", "{}\n"),
        ("images/production.json", "{}\n"),
        ("envs/staging/main.jsonnet", STAGING),
        ("envs/prod/main.jsonnet", PRODUCTION),
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
        let bare = daemon.create_remote("config.git", "master", &files());
        let url = daemon.url("config.git");
        Self {
            _daemon: daemon,
            bare,
            url,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
        command
            .args(args)
            .args(["--repo", &self.url])
            .env("CFGUPDATE_CACHE_DIR", self.cache.path())
            .env_remove("CFGUPDATE_GIT_TOKEN");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("the binary runs")
    }

    fn publish(&self, i: usize) -> Output {
        self.run(&[
            "publish",
            "--app-commit",
            &format!("{i:040x}"),
            "--image",
            &format!("api=reg.example.com/api:{i}@sha256:{i:064x}"),
        ])
    }

    fn tip(&self) -> String {
        git(&self.bare, &["rev-parse", "master"])
    }

    /// How many pushes the logging hook saw.
    fn pushes_seen(&self) -> usize {
        std::fs::read_to_string(self.bare.join("pushes.log"))
            .map(|log| log.lines().count())
            .unwrap_or(0)
    }

    fn assert_fsck_clean(&self) {
        let fsck = try_git(&self.bare, &["fsck", "--strict", "--no-dangling"]);
        assert!(
            fsck.status.success() && fsck.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&fsck.stderr)
        );
    }
}

/// What the binary said on stderr, without the warning that the pipeline state is not
/// authenticated (these remotes have no state key; `state_trust.rs` tests that warning).
fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| !line.contains("not authenticated (no CFGUPDATE_STATE_KEY)"))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_publish_after_the_branch_was_force_pushed_back_leaves_the_removed_commits_out() {
    let remote = Remote::new();
    let first = ok(&remote.publish(1));
    let alice = Person::clone(&remote.url, "master", "Alice");
    let leaked = alice.commit_and_push(&[("secret.txt", "hunter2\n")], "Oops, a secret");
    // The cache learns of the leaked commit with this publish, built on top of it.
    let on_leak = ok(&remote.publish(2));
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{on_leak}^")]),
        leaked
    );
    // Alice rewinds the branch to before the secret.
    alice.git(&["fetch", "-q", "origin"]);
    alice.git(&["reset", "-q", "--hard", &first]);
    alice.git(&["push", "-q", "--force", "origin", "master"]);

    // The cache still holds the leaked commits as the tip: this publish starts from there.
    let commit = ok(&remote.publish(3));

    assert_eq!(remote.tip(), commit);
    let history = git(&remote.bare, &["rev-list", &commit]);
    assert!(!history.contains(&leaked), "{history}");
    assert!(!history.contains(&on_leak), "{history}");
    assert_eq!(
        git(&remote.bare, &["rev-parse", &format!("{commit}^")]),
        first
    );
    remote.assert_fsck_clean();
}

#[test]
fn a_branch_deleted_on_the_remote_is_an_error_and_is_not_recreated() {
    let remote = Remote::new();
    ok(&remote.publish(1));
    git(&remote.bare, &["update-ref", "-d", "refs/heads/master"]);

    let output = remote.publish(2);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("branch `master` no longer exists"), "{said}");
    let refs = try_git(&remote.bare, &["show-ref"]);
    assert!(
        !String::from_utf8_lossy(&refs.stdout).contains("refs/heads/master"),
        "the branch came back"
    );
}

#[test]
fn a_publish_a_hook_declines_exits_1_with_the_servers_words_after_one_attempt() {
    let remote = Remote::new();
    install_hook(
        &remote.bare,
        "pre-receive",
        "#!/bin/sh\necho push >> \"$GIT_DIR/pushes.log\"\necho 'GH006: Protected branch update failed for refs/heads/master.' >&2\nexit 1\n",
    );
    let before = remote.tip();

    let output = remote.publish(1);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with(
            "cfgupdate: the remote refused the push: GH006: Protected branch update failed for refs/heads/master."
        ),
        "{said}"
    );
    assert_eq!(remote.pushes_seen(), 1, "one attempt");
    assert_eq!(remote.tip(), before);
}

#[test]
fn a_deploy_report_a_hook_declines_for_the_state_ref_exits_1_in_its_words() {
    let remote = Remote::new();
    let commit = ok(&remote.publish(1));
    install_hook(
        &remote.bare,
        "pre-receive",
        "#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in refs/cfgupdate/*)\n    echo push >> \"$GIT_DIR/pushes.log\"\n    echo 'refs/cfgupdate/* is reserved here' >&2; exit 1;;\n  esac\ndone\n",
    );

    let output = remote.run(&["deployed", "--target", "staging", "--revision", &commit]);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.lines().any(|line| line.starts_with(
            "cfgupdate: the remote refused the push: refs/cfgupdate/* is reserved here"
        )),
        "{said}"
    );
    assert_eq!(remote.pushes_seen(), 1, "one attempt");
}

/// Runs `args` with standard output a pipe whose reading end is already closed.
fn into_a_closed_pipe(remote: &Remote, args: &[&str]) -> Output {
    let mut child = remote
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_publish_into_a_closed_pipe_still_lands_and_exits_0_without_a_panic() {
    let remote = Remote::new();
    let output = into_a_closed_pipe(
        &remote,
        &[
            "publish",
            "--app-commit",
            &format!("{:040x}", 7),
            "--image",
            &format!("api=reg.example.com/api:7@sha256:{:064x}", 7),
        ],
    );
    let said = stderr(&output);
    assert!(!said.contains("panicked"), "{said}");
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(
        git(&remote.bare, &["show", "master:images/staging.json"]).contains("api:7@"),
        "the commit landed"
    );
}

#[test]
fn status_and_history_into_a_closed_pipe_end_without_a_panic() {
    let remote = Remote::new();
    for i in 1..=3 {
        ok(&remote.publish(i));
    }
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["history"],
        &["history", "--json"],
    ] {
        let output = into_a_closed_pipe(&remote, args);
        let said = stderr(&output);
        assert!(!said.contains("panicked"), "{args:?}: {said}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {said}");
    }
}

#[test]
fn a_token_in_the_repo_url_is_warned_about_in_one_line_without_showing_it() {
    let remote = Remote::new();
    let with_token = remote
        .url
        .replacen("git://", "git://x-access-token:ghp_S3CR3T@", 1);
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(["status", "--repo", &with_token])
        .env("CFGUPDATE_CACHE_DIR", remote.cache.path())
        .output()
        .unwrap();
    let said = stderr(&output);
    let warnings: Vec<&str> = said.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{said}");
    assert!(warnings[0].contains("process list"), "{said}");
    assert!(warnings[0].contains("CFGUPDATE_GIT_TOKEN"), "{said}");
    assert!(!said.contains("S3CR3T"), "{said}");
    let quiet = remote.run(&["status"]);
    assert!(!stderr(&quiet).contains("warning"), "{}", stderr(&quiet));
}

#[test]
fn a_token_in_the_repo_url_is_gone_from_the_process_list_of_a_running_serve() {
    use serve_support::{
        CI_TOKEN, Options, Server, all_credentials, app, file_refs, files, post_as, reference,
    };
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let secret = "ghp_T0KEN_in_argv_77";
    let url =
        daemon
            .url("config.git")
            .replacen("git://", &format!("git://x-access-token:{secret}@"), 1);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!shown.contains("T0KEN"), "{shown}");
    // The rest of the command line is as given, the token's place kept.
    let userinfo = format!("x-access-token:{secret}");
    let masked = url.replace(&userinfo, &"*".repeat(userinfo.len()));
    assert!(
        shown.contains(&format!("serve --repo {masked} --listen 127.0.0.1:0")),
        "{shown}"
    );
    // The command works with the token it was given.
    let body =
        serde_json::json!({ "app_commit": app(1), "images": { "api": reference("api", 1) } });
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        git(&bare, &["show", "master:envs/staging/images.libsonnet"])
            .contains(&reference("api", 1))
    );
    let log = server.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("carries a credential"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("CFGUPDATE_GIT_TOKEN")
            && warnings[0].contains("CFGUPDATE_GIT_TOKEN_FILE"),
        "{log}"
    );
    assert!(!log.contains(secret), "{log}");
}
