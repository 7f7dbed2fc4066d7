//! Unknown wave, target, application and service names, on the command line, in HTTP bodies
//! and in `cfgupdate.toml`, are answered with the valid names and the nearest match; nothing
//! is written.

use crate::serve_support;

use std::path::Path;
use std::process::{Command, Output};

use cfgupdate_tests::{create_bare_remote, git};
use serve_support::*;

fn cfgupdate(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .env("CFGUPDATE_CACHE_DIR", cache)
        .env_remove("CFGUPDATE_STATE_KEY")
        .env_remove("CFGUPDATE_STATE_KEY_FILE")
        .output()
        .expect("the binary runs")
}

/// The last line on stderr: the error sentence (a warning may come before it).
fn error(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn write_checkout(dir: &Path, files: &[(String, String)]) {
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

#[test]
fn unknown_names_on_the_command_line_are_answered_with_the_nearest_and_nothing_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("config.git");
    let initial = create_bare_remote(&bare, "master", &file_refs(&files()));
    let url = bare.to_str().unwrap();
    let cache = dir.path().join("cache");
    let image = format!("apii={}", reference("api", 1));
    let app_commit = app(1);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "deployed",
                "--repo",
                url,
                "--target",
                "stagin-us",
                "--revision",
                &initial,
            ],
            "unknown target `stagin-us`: the pipeline file names no such target; the targets are staging-us, staging-eu, internal, prod; did you mean `staging-us`?",
        ),
        (
            vec![
                "deployed",
                "--repo",
                url,
                "--app",
                "cfg-app-stagingeu",
                "--revision",
                &initial,
            ],
            "unknown Argo CD application `cfg-app-stagingeu`: no target of the pipeline file has it as `argocd_app`; the Argo CD applications are cfg-app-staging-us, cfg-app-staging-eu, internal, prod; did you mean `cfg-app-staging-eu`?",
        ),
        (
            vec![
                "promote",
                "--repo",
                url,
                "--from",
                "stagign",
                "--revision",
                &initial,
            ],
            "unknown wave `stagign`: the pipeline file names no such wave; the waves are staging, internal, production; did you mean `staging`?",
        ),
        (
            vec![
                "approve",
                "--repo",
                url,
                "--wave",
                "prodution",
                "--by",
                "alice",
            ],
            "unknown wave `prodution`: the pipeline file names no such wave; the waves are staging, internal, production; did you mean `production`?",
        ),
        (
            vec![
                "publish",
                "--repo",
                url,
                "--app-commit",
                &app_commit,
                "--image",
                &image,
            ],
            "wave `staging`: service `apii` has no image slot in envs/staging/images.libsonnet; the services with a slot are api, cron, web, worker; did you mean `api`?",
        ),
    ];
    for (args, expected) in cases {
        let output = cfgupdate(&args, &cache);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert_eq!(error(&output), format!("cfgupdate: {expected}"), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
    }
    assert_eq!(git(&bare, &["rev-parse", "master"]).trim(), initial);
}

#[test]
fn unknown_names_in_http_bodies_are_answered_with_the_nearest_and_nothing_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("config.git");
    let initial = create_bare_remote(&bare, "master", &file_refs(&files()));
    let server = Server::start(Options {
        repo: bare.to_str().unwrap(),
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    let deployments = server.at("/v1/deployments");
    let cases = [
        (
            deployments.clone(),
            DEPLOY_TOKEN,
            serde_json::json!({"target": "prod-", "revision": initial, "status": "succeeded"}),
            "the targets are staging-us, staging-eu, internal, prod; did you mean `prod`?",
        ),
        (
            deployments,
            DEPLOY_TOKEN,
            serde_json::json!({"app": "cfg-app-staging-uk", "revision": initial, "status": "succeeded"}),
            "did you mean `cfg-app-staging-us`?",
        ),
        (
            server.at("/v1/approvals"),
            ADMIN_TOKEN,
            serde_json::json!({"wave": "prodution"}),
            "the waves are staging, internal, production; did you mean `production`?",
        ),
        (
            server.at("/v1/images"),
            CI_TOKEN,
            serde_json::json!({"app_commit": app(1), "images": {"wokrer": reference("worker", 1)}}),
            "the services with a slot are api, cron, web, worker; did you mean `worker`?",
        ),
    ];
    for (url, token, body, expected) in cases {
        let answer = post_as(&url, token, &body.to_string());
        assert_eq!(answer.status, 422, "{body}: {}", answer.text);
        let sentence = answer.error();
        assert!(sentence.ends_with(expected), "{body}: {sentence}");
    }
    assert_eq!(git(&bare, &["rev-parse", "master"]).trim(), initial);
}

#[test]
fn render_of_an_unknown_target_names_the_targets_and_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    write_checkout(dir.path(), &files());
    let output = cfgupdate(
        &[
            "render",
            "-C",
            dir.path().to_str().unwrap(),
            "--target",
            "interal",
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        error(&output),
        "cfgupdate: target `interal` is not in cfgupdate.toml; the targets are staging-us, staging-eu, internal, prod; did you mean `internal`?"
    );
}

#[test]
fn edit_of_a_service_without_a_slot_names_the_services_that_have_one() {
    let dir = tempfile::tempdir().unwrap();
    write_checkout(dir.path(), &files());
    let file = dir.path().join("envs/staging/images.libsonnet");
    let before = std::fs::read_to_string(&file).unwrap();
    let set = format!("wbe={}", reference("web", 1));
    let output = cfgupdate(
        &["edit", file.to_str().unwrap(), "--set", &set, "--write"],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        error(&output),
        format!(
            "cfgupdate: service `wbe` has no image slot in {}; the services with a slot are api, cron, web, worker; did you mean `web`?",
            file.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn check_answers_a_typo_in_hold_or_in_a_wave_s_targets_with_the_nearest_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = files();
    files[0].1 = PIPELINE.replace(
        "targets = [\"internal\"]\n",
        "targets = [\"internal\"]\nhold = [\"wrker\", \"web\"]\n",
    );
    write_checkout(dir.path(), &files);
    let output = cfgupdate(
        &["check", "-C", dir.path().to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        error(&output),
        "cfgupdate: wave `internal`: `hold` names service `wrker`, which no wave's image set has, so it holds nothing; the services are api, cron, web, worker; did you mean `worker`?"
    );

    // A hold on a service some wave has is fine.
    files[0].1 = PIPELINE.replace(
        "targets = [\"internal\"]\n",
        "targets = [\"internal\"]\nhold = [\"worker\"]\n",
    );
    write_checkout(dir.path(), &files);
    let output = cfgupdate(
        &["check", "-C", dir.path().to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert!(output.status.success(), "{output:?}");

    // A wave whose image set cannot be read hides its services: its problem is reported, and
    // no hold is blamed for naming a service only that wave has.
    let internal = files
        .iter()
        .position(|(path, _)| path == "images/internal.json")
        .unwrap();
    let good_internal = std::mem::replace(&mut files[internal].1, "{ broken".into());
    files[0].1 = PIPELINE.replace(
        "targets = [\"internal\"]\n",
        "targets = [\"internal\"]\nhold = [\"nosuch\"]\n",
    );
    write_checkout(dir.path(), &files);
    let output = cfgupdate(
        &["check", "-C", dir.path().to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("images/internal.json") && !stderr.contains("`hold`"),
        "{stderr}"
    );
    files[internal].1 = good_internal;

    files[0].1 = PIPELINE.replace("targets = [\"prod\"]", "targets = [\"prd\"]");
    write_checkout(dir.path(), &files);
    let output = cfgupdate(
        &["check", "-C", dir.path().to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let sentence = error(&output);
    assert!(
        sentence.starts_with("cfgupdate: cfgupdate.toml:")
            && sentence.ends_with(
                "`targets` in [[wave]] \"production\" lists `prd`, which has no [target.prd] table; every target needs one with its `entrypoint`; the [target] tables are staging-us, staging-eu, internal, prod; did you mean `prod`?"
            ),
        "{sentence}"
    );
}
