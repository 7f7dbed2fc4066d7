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
