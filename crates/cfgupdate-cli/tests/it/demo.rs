//! `cfgupdate demo` through the real binary: it succeeds, tells every wave's part of the story,
//! ends with the history and where to look, and leaves a repository that is what it says.

use std::process::Command;

use cfgupdate_tests::git;

#[test]
fn the_demo_plays_every_wave_and_ends_with_the_history_and_where_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .env("CFGUPDATE_CACHE_DIR", dir.path().join("unused-cache"))
        .output()
        .unwrap();
    // Not asserted, only shown with --nocapture: how long the demo took here.
    eprintln!(
        "cfgupdate demo took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );

    for told in [
        "`cfgupdate serve` on http://127.0.0.1:",
        "committed",
        "into staging",
        "staging-us",
        "staging-eu",
        "into internal",
        "on hold",
        "Alice approves production",
        "into production",
        "unchanged: no second commit",
    ] {
        assert!(
            stdout.contains(told),
            "the narration never says {told:?}:\n{stdout}"
        );
    }
    let history = stdout
        .find("History of the branch")
        .expect("the narration ends with the history");
    let look = stdout.find("Where to look").expect("and where to look");
    assert!(history < look);
    assert!(stdout[history..].contains("by Alice"), "{stdout}");

    // The repository it names is there, and its history is the one told.
    let demo_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("cfgupdate-demo-")
        })
        .unwrap();
    let remote = demo_dir.join("cfg-app.git");
    assert!(stdout.contains(remote.to_str().unwrap()));
    let subjects = git(&remote, &["log", "--format=%s", "master"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    assert!(subjects[0].starts_with("Promote api, web from internal to production"));
    assert!(subjects[1].starts_with("Promote api, web from staging to internal"));
    assert_eq!(subjects[2], "Scale web to 4 replicas in prod-eu");
    assert!(subjects[3].starts_with("Publish api, billing, web to staging"));
    for short in git(&remote, &["log", "--format=%h", "--abbrev=7", "master"]).lines() {
        assert!(
            stdout[history..].contains(short),
            "the history lacks {short}:\n{stdout}"
        );
    }
    let web = git(
        &remote,
        &["show", "master:generated/prod-eu/deployment-shop-web.yaml"],
    );
    assert!(web.contains("replicas: 4"), "{web}");
    assert!(
        web.contains("shop/web:9d8c7b6a5f4e3d2c1b0a99887766554433221100@sha256:"),
        "{web}"
    );
}

/// Runs `cfgupdate demo` with `args` under `dir`; returns its stdout and the repository it made.
fn run_demo(dir: &std::path::Path, args: &[&str]) -> (String, std::path::PathBuf) {
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .arg("demo")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .env("CFGUPDATE_CACHE_DIR", dir.join("unused-cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    let demo_dir = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("cfgupdate-demo-")
        })
        .unwrap();
    (stdout, demo_dir.join("cfg-app.git"))
}

#[test]
fn the_strict_demo_evicts_the_change_ci_failed_while_the_next_one_reaches_production() {
    const SANDBOX: &str = "registry.example.com/sandbox/";
    const NEXT_WEB: &str =
        "registry.example.com/shop/web:9d8c7b6a5f4e3d2c1b0a99887766554433221100@sha256:";
    let dir = tempfile::tempdir().unwrap();
    let (stdout, remote) = run_demo(dir.path(), &["--strict"]);
    for told in [
        "[strict] branch = \"auto\"",
        "on branch `auto`",
        "strict mode: automatic changes wait on branch `auto` for CI (2 waiting)",
        "CI: pending (policy/registry)",
        "reports failure",
        "evicted",
        "fast-forwarded to",
        "promoted into internal",
        "promoted into production",
        "refused (409)",
        "Kept off the branch by the config repository's CI",
    ] {
        assert!(
            stdout.contains(told),
            "the narration never says {told:?}:\n{stdout}"
        );
    }

    // master: the second build's announcement and its two promotions, each the commit CI
    // passed on auto; nothing is left waiting.
    let subjects = git(&remote, &["log", "--format=%s", "master"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    assert!(subjects[0].starts_with("Promote api, web from internal to production"));
    assert!(subjects[1].starts_with("Promote api, web from staging to internal"));
    assert!(subjects[2].starts_with("Publish api, billing, web to staging"));
    assert_eq!(
        git(&remote, &["rev-parse", "auto"]),
        git(&remote, &["rev-parse", "master"])
    );
    let production = git(
        &remote,
        &["show", "master:envs/production/images.libsonnet"],
    );
    assert!(production.contains(NEXT_WEB), "{production}");
    let web = git(
        &remote,
        &["show", "master:generated/prod-eu/deployment-shop-web.yaml"],
    );
    assert!(web.contains(NEXT_WEB), "{web}");
    // The evicted images were never on master, in any commit.
    let diffs = git(&remote, &["log", "-p", "master"]);
    assert!(!diffs.contains(SANDBOX), "master held a sandbox image");
    assert!(!diffs.contains("7e57b12a0c4d4e5f60718293a4b5c6d7e8f90a1b"));

    // The eviction, as status and history tell it afterwards.
    let cli = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(args)
            .arg("--repo")
            .arg(&remote)
            .env("CFGUPDATE_CACHE_DIR", dir.path().join("cli-cache"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let status: serde_json::Value = serde_json::from_str(&cli(&["status", "--json"])).unwrap();
    assert_eq!(
        status["strict"]["pending"],
        serde_json::json!([]),
        "{status:#}"
    );
    let evicted = status["strict"]["evicted"].as_array().unwrap();
    assert_eq!(evicted.len(), 1, "{status:#}");
    assert_eq!(evicted[0]["kind"], "failed");
    assert_eq!(
        evicted[0]["reason"],
        "the config repository's CI failed it (policy/registry)"
    );
    let commit = evicted[0]["commit"].as_str().unwrap();
    assert!(
        evicted[0]["images"]["api"]
            .as_str()
            .unwrap()
            .starts_with(SANDBOX)
    );
    assert!(
        !cfgupdate_tests::try_git(&remote, &["merge-base", "--is-ancestor", commit, "master"])
            .status
            .success(),
        "the evicted commit is on master"
    );
    assert!(
        stdout.contains(&format!("evicted {}", &commit[..7])),
        "{stdout}"
    );
    let history = cli(&["history"]);
    assert!(
        history.contains(&format!("evicted {}", &commit[..7])),
        "{history}"
    );
}
