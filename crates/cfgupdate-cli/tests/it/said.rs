//! Writing commands say what they did in one sentence on stderr, while stdout keeps exactly
//! what the contract fixes for scripts: the new commit's SHA, or `unchanged`.

use crate::serve_support;

use std::path::Path;
use std::process::{Command, Output};

use cfgupdate_tests::{create_bare_remote, git};
use serve_support::*;

const STATE_KEY: &str = "0123456789abcdef0123456789abcdef";

/// Runs the binary with a state key, so that stderr holds nothing but what the command says.
fn cfgupdate(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .env("CFGUPDATE_CACHE_DIR", cache)
        .env("CFGUPDATE_STATE_KEY", STATE_KEY)
        .env_remove("CFGUPDATE_STATE_KEY_FILE")
        .env_remove("CFGUPDATE_BRANCH")
        .output()
        .expect("the binary runs")
}

/// Stdout and stderr of a successful run.
fn streams(output: &Output) -> (String, String) {
    assert!(output.status.success(), "{output:?}");
    (
        String::from_utf8(output.stdout.clone()).unwrap(),
        String::from_utf8(output.stderr.clone()).unwrap(),
    )
}

/// Stdout is one commit id and nothing else; returns it.
fn sha(stdout: &str) -> String {
    let id = stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{stdout:?}"));
    assert!(
        id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stdout:?}"
    );
    id.to_owned()
}

fn short(id: &str) -> &str {
    &id[..12]
}

/// The pipeline of `serve_support` without the soak gate, so that a report promotes at once.
fn config_files() -> Vec<(String, String)> {
    let mut files = files();
    files[0].1 = PIPELINE.replace("soak = \"2s\"\n", "");
    files
}

#[test]
fn publish_deployed_promote_approve_and_state_reset_say_what_they_did_and_print_the_sha() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("config.git");
    create_bare_remote(&bare, "master", &file_refs(&config_files()));
    let url = bare.to_str().unwrap();
    let cache = dir.path().join("cache");
    let tip = || git(&bare, &["rev-parse", "master"]).trim().to_owned();

    let api = format!("api={}", reference("api", 1));
    let web = format!("web={}", reference("web", 1));
    let publish = [
        "publish",
        "--repo",
        url,
        "--app-commit",
        &app(1),
        "--image",
        &api,
        "--image",
        &web,
    ];
    let (out, err) = streams(&cfgupdate(&publish, &cache));
    let published = sha(&out);
    assert_eq!(published, tip());
    assert_eq!(
        err,
        format!(
            "published api, web into `staging`: commit {} on master\n",
            short(&published)
        )
    );
    let (out, err) = streams(&cfgupdate(&publish, &cache));
    assert_eq!(out, "unchanged\n");
    assert_eq!(
        err,
        "nothing published: the first wave already holds these images, or this announcement was published before\n"
    );

    let deployed = |target: &[&str], revision: &str| {
        let mut args = vec!["deployed", "--repo", url, "--revision", revision];
        args.extend_from_slice(target);
        streams(&cfgupdate(&args, &cache))
    };
    let (out, err) = deployed(&["--target", "staging-us"], &published);
    assert_eq!(out, "unchanged\n");
    assert!(
        err.starts_with(&format!(
            "recorded that target `staging-us` deployed {}; nothing promoted: ",
            short(&published)
        )) && err.lines().count() == 1,
        "{err}"
    );
    let (out, err) = deployed(&["--app", "cfg-app-staging-eu"], &published);
    let promoted = sha(&out);
    assert_eq!(promoted, tip());
    assert_eq!(
        err,
        format!(
            "recorded that Argo CD application `cfg-app-staging-eu` deployed {}; promoted into `internal`: commit {} on master\n",
            short(&published),
            short(&promoted)
        )
    );
    let (out, err) = deployed(&["--target", "internal"], &promoted);
    assert_eq!(out, "unchanged\n");
    assert_eq!(
        err,
        format!(
            "recorded that target `internal` deployed {}; promotion into `production` waits for approval (`cfgupdate approve --wave production`)\n",
            short(&promoted)
        )
    );

    let (out, err) = streams(&cfgupdate(
        &[
            "approve",
            "--repo",
            url,
            "--wave",
            "production",
            "--by",
            "alice",
        ],
        &cache,
    ));
    let approved = sha(&out);
    assert_eq!(approved, tip());
    assert_eq!(
        err,
        format!(
            "approved for `production` by alice and promoted: commit {} on master\n",
            short(&approved)
        )
    );

    let api2 = format!("api={}", reference("api", 2));
    let (out, _) = streams(&cfgupdate(
        &[
            "publish",
            "--repo",
            url,
            "--app-commit",
            &app(2),
            "--image",
            &api2,
        ],
        &cache,
    ));
    let second = sha(&out);
    let (out, err) = streams(&cfgupdate(
        &[
            "promote",
            "--repo",
            url,
            "--from",
            "staging",
            "--revision",
            &second,
        ],
        &cache,
    ));
    let by_hand = sha(&out);
    assert_eq!(by_hand, tip());
    assert_eq!(
        err,
        format!(
            "promoted what `staging` held at {} into `internal`: commit {} on master\n",
            short(&second),
            short(&by_hand)
        )
    );

    let (out, err) = streams(&cfgupdate(&["state", "reset", "--repo", url], &cache));
    let state = sha(&out);
    assert_eq!(
        state,
        git(&bare, &["rev-parse", "refs/cfgupdate/state/master"]).trim()
    );
    assert_eq!(
        err,
        format!(
            "started a fresh state document for master: commit {} on refs/cfgupdate/state/master\n",
            short(&state)
        )
    );
}

#[test]
fn edit_and_render_with_write_say_what_they_wrote_and_print_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = config_files();
    files[0].1 = format!(
        "[render]\noutput = \"generated/{{target}}\"\n\n{}",
        files[0].1
    );
    for (path, text) in &files {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let cache = dir.path().join("cache");
    let images = dir.path().join("envs/staging/images.libsonnet");
    let set = format!("web={}", reference("web", 3));
    let edit = ["edit", images.to_str().unwrap(), "--set", &set, "--write"];
    let (out, err) = streams(&cfgupdate(&edit, &cache));
    assert_eq!(out, "");
    assert_eq!(err, format!("wrote web into {}\n", images.display()));
    let (out, err) = streams(&cfgupdate(&edit, &cache));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "{} already holds these images; nothing written\n",
            images.display()
        )
    );

    let (out, err) = streams(&cfgupdate(
        &["render", "-C", dir.path().to_str().unwrap(), "--write"],
        &cache,
    ));
    assert_eq!(out, "");
    assert_eq!(
        err,
        "rendered 16 files: internal into generated/internal, prod into generated/prod, staging-eu into generated/staging-eu, staging-us into generated/staging-us\n"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("generated/staging-us"))
            .unwrap()
            .count(),
        4
    );
}
