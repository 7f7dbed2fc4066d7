//! Without `--branch`, cfgupdate works on the branch the remote's `HEAD` names, else `master`
//! (docs/remotes.md#which-branch), through the real binary against a real `git daemon`.

use crate::serve_support;

use std::path::Path;
use std::process::{Command, Output};

use cfgupdate_tests::{GitDaemon, git};
use serve_support::*;

/// `cfgupdate ARGS` with its own cache and no branch from the environment.
fn cfgupdate(args: &[&str], cache: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
    command
        .args(args)
        .env("CFGUPDATE_CACHE_DIR", cache)
        .env_remove("CFGUPDATE_BRANCH")
        .env_remove("CFGUPDATE_REPO");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

fn publish(url: &str, cache: &Path, i: usize, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let image = format!("api={}", reference("api", i));
    let commit = app(i);
    let mut args = vec![
        "publish",
        "--repo",
        url,
        "--app-commit",
        &commit,
        "--image",
        &image,
    ];
    args.extend_from_slice(extra);
    cfgupdate(&args, cache, env)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A daemon serving `config.git`, whose HEAD names `branch`, holding the pipeline.
fn remote(branch: &str) -> (GitDaemon, std::path::PathBuf, String) {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", branch, &file_refs(&files));
    let url = daemon.url("config.git");
    (daemon, bare, url)
}

fn branches(bare: &Path) -> Vec<String> {
    git(
        bare,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn a_remote_whose_head_names_main_is_worked_on_without_branch() {
    let (_daemon, bare, url) = remote("main");
    let cache = tempfile::tempdir().unwrap();

    let published = publish(&url, cache.path(), 1, &[], &[]);
    assert_eq!(published.status.code(), Some(0), "{}", stderr(&published));
    assert_eq!(stdout(&published), git(&bare, &["rev-parse", "main"]));
    assert!(
        stderr(&published).contains("on main"),
        "{}",
        stderr(&published)
    );
    assert_eq!(branches(&bare), ["main"], "no `master` was made");

    let status = cfgupdate(&["status", "--repo", &url, "--json"], cache.path(), &[]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(
        stdout(&status).contains(&reference("api", 1)),
        "{}",
        stdout(&status)
    );

    let history = cfgupdate(&["history", "--repo", &url], cache.path(), &[]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));

    // A local path is asked the same way.
    let local = bare.to_str().unwrap();
    let again = publish(local, cache.path(), 2, &[], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(stdout(&again), git(&bare, &["rev-parse", "main"]));
}

#[test]
fn a_remote_whose_head_names_master_is_worked_on_as_before() {
    let (_daemon, bare, url) = remote("master");
    let cache = tempfile::tempdir().unwrap();
    let published = publish(&url, cache.path(), 1, &[], &[]);
    assert_eq!(published.status.code(), Some(0), "{}", stderr(&published));
    assert_eq!(stdout(&published), git(&bare, &["rev-parse", "master"]));
    assert_eq!(branches(&bare), ["master"]);
}

#[test]
fn branch_and_its_variable_still_choose_over_the_remote_head() {
    let (_daemon, bare, url) = remote("main");
    git(&bare, &["branch", "env/prod", "main"]);
    let main = git(&bare, &["rev-parse", "main"]);
    let cache = tempfile::tempdir().unwrap();

    let given = publish(&url, cache.path(), 1, &["--branch", "env/prod"], &[]);
    assert_eq!(given.status.code(), Some(0), "{}", stderr(&given));
    assert_eq!(stdout(&given), git(&bare, &["rev-parse", "env/prod"]));
    assert!(stderr(&given).contains("on env/prod"), "{}", stderr(&given));

    let from_env = publish(
        &url,
        cache.path(),
        2,
        &[],
        &[("CFGUPDATE_BRANCH", "env/prod")],
    );
    assert_eq!(from_env.status.code(), Some(0), "{}", stderr(&from_env));
    assert_eq!(stdout(&from_env), git(&bare, &["rev-parse", "env/prod"]));
    assert_eq!(
        git(&bare, &["rev-parse", "main"]),
        main,
        "main is untouched"
    );

    // Naming `master` on this remote is still an error about `master`, and changes nothing.
    let master = publish(&url, cache.path(), 3, &["--branch", "master"], &[]);
    assert_ne!(master.status.code(), Some(0));
    assert!(stderr(&master).contains("`master`"), "{}", stderr(&master));
    assert_eq!(branches(&bare), ["env/prod", "main"]);
}

#[test]
fn an_empty_branch_variable_counts_as_unset() {
    // `CFGUPDATE_BRANCH=` left empty in a manifest or a CI file: the remote's HEAD decides.
    let (_daemon, bare, url) = remote("main");
    let cache = tempfile::tempdir().unwrap();
    let published = publish(&url, cache.path(), 1, &[], &[("CFGUPDATE_BRANCH", "")]);
    assert_eq!(published.status.code(), Some(0), "{}", stderr(&published));
    assert_eq!(stdout(&published), git(&bare, &["rev-parse", "main"]));
    assert_eq!(branches(&bare), ["main"]);
}

#[test]
fn a_wave_named_in_capitals_is_answered_with_the_lower_case_name() {
    let (_daemon, _bare, url) = remote("main");
    let cache = tempfile::tempdir().unwrap();
    let output = cfgupdate(
        &["approve", "--repo", &url, "--wave", "Production"],
        cache.path(),
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("did you mean `production`?"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_empty_remote_keeps_the_master_fallback() {
    let daemon = GitDaemon::start().unwrap();
    // HEAD names `main`, which does not exist: the remote advertises no HEAD at all.
    let bare = daemon.create_remote("empty.git", "main", &[]);
    let url = daemon.url("empty.git");
    let cache = tempfile::tempdir().unwrap();
    let without = publish(&url, cache.path(), 1, &[], &[]);
    let with = publish(&url, cache.path(), 1, &["--branch", "master"], &[]);
    assert_ne!(without.status.code(), Some(0));
    assert_eq!(without.status.code(), with.status.code());
    assert_eq!(stderr(&without), stderr(&with));
    assert!(
        stderr(&without).contains("`master`"),
        "{}",
        stderr(&without)
    );
    assert!(branches(&bare).is_empty());
}

#[test]
fn a_head_naming_an_odd_but_valid_branch_is_followed() {
    let (_daemon, bare, url) = remote("main");
    let odd = "release/2026.12-rc+1_ü";
    git(&bare, &["branch", odd, "main"]);
    git(
        &bare,
        &["symbolic-ref", "HEAD", &format!("refs/heads/{odd}")],
    );
    let cache = tempfile::tempdir().unwrap();
    let published = publish(&url, cache.path(), 1, &[], &[]);
    assert_eq!(published.status.code(), Some(0), "{}", stderr(&published));
    assert_eq!(stdout(&published), git(&bare, &["rev-parse", odd]));
}

#[test]
fn a_head_that_names_no_usable_branch_is_refused_and_nothing_changes() {
    let (_daemon, bare, url) = remote("main");
    let long = format!("{}/{}", "a".repeat(200), "b".repeat(100));
    git(&bare, &["tag", "v1", "main"]);
    git(&bare, &["branch", &long, "main"]);
    let before = git(&bare, &["for-each-ref"]);
    let cache = tempfile::tempdir().unwrap();
    for (target, reason) in [
        ("refs/tags/v1".to_owned(), "is not a branch"),
        (format!("refs/heads/{long}"), "more than the 255 allowed"),
    ] {
        git(&bare, &["symbolic-ref", "HEAD", &target]);
        for run in [
            publish(&url, cache.path(), 1, &[], &[]),
            cfgupdate(&["status", "--repo", &url], cache.path(), &[]),
        ] {
            let said = stderr(&run);
            assert_eq!(run.status.code(), Some(1), "{target}: {said}");
            assert!(said.contains(reason), "{target}: {said}");
            assert!(said.contains("--branch"), "{target}: {said}");
            assert!(said.contains(&url), "{target}: {said}");
            assert!(said.len() < 1000, "{said}");
        }
    }
    assert_eq!(git(&bare, &["for-each-ref"]), before);
}

#[test]
fn serve_works_on_the_branch_the_remote_head_names_and_says_which() {
    let (_daemon, bare, url) = remote("main");
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let status = get(&server.at("/v1/status"));
    assert_eq!(status.status, 200, "{}", status.text);
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json()["commit"].as_str(),
        Some(git(&bare, &["rev-parse", "main"]).as_str())
    );
    assert_eq!(branches(&bare), ["main"]);
    let log = server.log();
    assert!(log.contains("working on branch `main`"), "{log}");
    server.terminate();
}

#[test]
fn serve_starts_while_the_remote_is_unreachable_and_asks_its_head_when_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("later.git");
    let mut server = Server::start(Options {
        repo: bare.to_str().unwrap(),
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let images = server.at("/v1/images");
    let early = post_as(&images, CI_TOKEN, &announcement(1, "api"));
    assert_eq!(early.status, 503, "{}", early.text);
    assert!(early.text.contains("--branch"), "{}", early.text);
    assert!(server.log().contains("asking again"), "{}", server.log());

    let files = files();
    cfgupdate_tests::create_bare_remote(&bare, "main", &file_refs(&files));
    let mut answer = None;
    eventually(
        std::time::Duration::from_secs(30),
        "the announcement lands",
        || {
            let posted = post_as(&images, CI_TOKEN, &announcement(1, "api"));
            let done = posted.status == 200;
            answer = Some(posted);
            done
        },
    );
    let answer = answer.unwrap();
    assert_eq!(
        answer.json()["commit"].as_str(),
        Some(git(&bare, &["rev-parse", "main"]).as_str())
    );
    assert_eq!(branches(&bare), ["main"]);
    server.terminate();
}
