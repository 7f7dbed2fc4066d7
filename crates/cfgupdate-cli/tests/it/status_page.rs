//! The status page `GET /` of the real `cfgupdate serve`, loaded in Debian's headless Chromium
//! while a release moves through the pipeline: after each step the test reads the text a
//! person sees (`--dump-dom`, tags stripped) and keeps screenshots at 1280x800 and 390x844
//! under `target/artifacts/status-page/`.
//!
//! Chromium is required: without it the test fails and says how to install it (`.ci/run`
//! does). `CFGUPDATE_CHROMIUM` may name another binary.

use crate::serve_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cfgupdate_tests::{GitDaemon, Person, git};
use serde_json::json;
use serve_support::*;

const WEB_URL: &str = "https://git.example.com/acme/cfg-app";

/// The Chromium binary, or a failure that says how to get one.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CFGUPDATE_CHROMIUM") {
        return PathBuf::from(path);
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "this test loads the status page in headless Chromium, which is not installed: install it \
         with `apt-get install -y chromium` (Debian; .ci/run does), or name the binary in CFGUPDATE_CHROMIUM"
    );
}

/// Where the screenshots are kept.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("artifacts").join("status-page");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium with `args` on `url` (a fresh profile each time) and returns its
/// standard output; fails after a minute.
fn run_chromium(args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", chromium().display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium did not finish within a minute: {args:?} {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The DOM Chromium built from the page, and, from the same load, a screenshot at the
/// desktop size into `screenshot` (one Chromium start instead of two: each costs about a
/// second of CPU).
fn dom_and_screenshot(url: &str, screenshot: &Path) -> String {
    let _ = std::fs::remove_file(screenshot);
    let dom = run_chromium(
        &[
            "--dump-dom".to_owned(),
            format!("--screenshot={}", screenshot.display()),
            format!("--window-size={DESKTOP}"),
        ],
        url,
    );
    assert!(dom.contains("<h1>"), "not a page: {dom}");
    dom
}

/// The desktop and phone window sizes of the screenshots.
const DESKTOP: &str = "1280,800";
const PHONE: &str = "390,844";

/// The text a person sees: the DOM without the style sheet and tags, entities read,
/// whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let without_style = match (dom.find("<style"), dom.find("</style>")) {
        (Some(start), Some(end)) => format!("{}{}", &dom[..start], &dom[end..]),
        _ => dom.to_owned(),
    };
    let mut text = String::new();
    let mut in_tag = false;
    for c in without_style.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Screenshots of the page as it is now, one per window size.
fn screenshots_at(url: &str, step: &str, sizes: &[(&str, &str)]) {
    for (size, name) in sizes {
        let file = artifacts().join(format!("{step}-{name}.png"));
        let _ = std::fs::remove_file(&file);
        run_chromium(
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size={size}"),
            ],
            url,
        );
        assert_png(&file);
    }
}

/// `file` is a PNG image Chromium wrote.
fn assert_png(file: &Path) {
    let png = std::fs::read(file)
        .unwrap_or_else(|error| panic!("Chromium wrote no screenshot {}: {error}", file.display()));
    assert!(png.starts_with(b"\x89PNG"), "{} is no PNG", file.display());
}

/// Loads the page until its visible text holds every one of `expected` (the status behind it
/// may be a moment old), keeps screenshots (the desktop one of the very load whose text was
/// checked), and returns the text and the DOM.
fn page_shows(url: &str, step: &str, expected: &[&str]) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let desktop = artifacts().join(format!("{step}-desktop.png"));
    loop {
        let dom = dom_and_screenshot(url, &desktop);
        let text = visible_text(&dom);
        let missing: Vec<&&str> = expected.iter().filter(|e| !text.contains(**e)).collect();
        if missing.is_empty() {
            assert_png(&desktop);
            screenshots_at(url, step, &[(PHONE, "phone")]);
            return (text, dom);
        }
        assert!(
            Instant::now() < deadline,
            "step {step}: the page does not show {missing:?}; it shows: {text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A release of `service` numbered `n`: tag `v1.n.0`, a digest of the digit `n`.
fn release(service: &str, n: usize) -> String {
    format!(
        "reg.example.com/{service}:v1.{n}.0@sha256:{}",
        format!("{n:x}").repeat(64)
    )
}

#[test]
fn the_status_page_shows_a_release_moving_through_the_pipeline_in_chromium() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec!["--web-url", WEB_URL],
    });
    let page = server.at("/");

    // The answer itself: HTML that forbids scripts, and no credentials needed.
    let answer = get(&page);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    let policy = answer.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");

    // 1. Nothing has moved yet.
    let tip = git(&bare, &["rev-parse", "master"]);
    let (text, _) = page_shows(
        &page,
        "1-start",
        &[
            "Pipeline status",
            "staging",
            "internal",
            "production",
            "no report yet",
        ],
    );
    assert!(text.contains(&tip.trim()[..12]), "{text}");
    assert!(text.contains("No automatic commit yet"), "{text}");

    // 2. CI publishes a release of `api` into staging.
    let images = server.at("/v1/images");
    let body = json!({ "app_commit": app(1), "images": { "api": release("api", 1) } });
    let published = post_as(&images, CI_TOKEN, &body.to_string());
    assert_eq!(published.status, 200, "{}", published.text);
    let c1 = published.json()["commit"].as_str().unwrap().to_owned();
    let (text, dom) = page_shows(
        &page,
        "2-published",
        &["v1.1.0", "sha256:111111111111", "publish"],
    );
    // The commit links to the repository's web page.
    assert!(
        dom.contains(&format!("href=\"{WEB_URL}/commit/{c1}\"")),
        "no link to {c1}: {dom}"
    );
    assert!(text.contains(&c1[..12]), "{text}");

    // 3. Staging deploys it; the soak gate of internal opens on its own and it is promoted.
    let deployments = server.at("/v1/deployments");
    let report = |target: &str, revision: &str, status: &str| {
        let body = json!({ "target": target, "revision": revision, "status": status });
        let answer = post_as(&deployments, DEPLOY_TOKEN, &body.to_string());
        assert_eq!(answer.status, 200, "{}", answer.text);
    };
    report("staging-us", &c1, "succeeded");
    report("staging-eu", &c1, "succeeded");
    let promoted = || {
        git(
            &bare,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Cfgupdate-Action,valueonly)",
                "master",
            ],
        )
        .trim()
            == "promote"
    };
    eventually(Duration::from_secs(30), "the soak timer promotes", promoted);
    let p1 = git(&bare, &["rev-parse", "master"]).trim().to_owned();
    let (text, _) = page_shows(&page, "3-promoted", &["deployed", "promote", &p1[..12]]);
    // Both staging targets report the release, with their age.
    assert!(text.matches(&c1[..12]).count() >= 3, "{text}");
    assert!(text.contains(" s ago"), "{text}");

    // 4. Internal deploys it: production waits for approval.
    report("internal", &p1, "succeeded");
    let (text, _) = page_shows(
        &page,
        "4-approval-pending",
        &[
            "waiting: approval",
            "waits for approval",
            "Would change: api v1.1.0",
        ],
    );
    assert!(text.contains("Candidate from"), "{text}");

    // 5. A newer release fails in one staging target: the step out of staging is blocked.
    let body = json!({ "app_commit": app(2), "images": { "api": release("api", 2) } });
    let published = post_as(&images, CI_TOKEN, &body.to_string());
    assert_eq!(published.status, 200, "{}", published.text);
    let c2 = published.json()["commit"].as_str().unwrap().to_owned();
    report("staging-us", &c2, "failed");
    let (text, _) = page_shows(&page, "5-failed", &["failed", "blocked", "v1.2.0"]);
    assert!(
        text.contains("waiting: approval"),
        "production still waits: {text}"
    );

    // 6. Someone pushes a commit in cfgupdate's name with hostile text: shown, not obeyed.
    let person = Person::clone(&url, "master", "Mallory");
    let hostile_subject = format!(
        "\"><script>document.body.innerHTML='owned'</script><img src=x onerror=alert(1)> \u{202e}gnp.exe {}",
        "x".repeat(5000)
    );
    person.commit_and_push(
        &[("README.md", "changed\n")],
        &format!("{hostile_subject}\n\nCfgupdate-Action: publish\nCfgupdate-Approved-By: <b>mallory</b>\n"),
    );
    let (text, dom) = page_shows(
        &page,
        "6-hostile",
        &["<script>document.body.innerHTML='owned'</script>"],
    );
    assert!(!dom.contains("<script"), "a script element reached the DOM");
    assert!(!dom.contains("<img"), "an img element reached the DOM");
    assert!(
        !text.contains('\u{202e}'),
        "a direction override reached the page"
    );
    assert!(text.contains("⟨U+202E⟩gnp.exe"), "{text}");
    assert!(!text.contains(&"x".repeat(1000)), "a long subject is cut");
    assert!(
        text.contains("Pipeline status") && text.contains("blocked"),
        "{text}"
    );
    // The whole page, for people to look at: tall windows show everything below the fold.
    screenshots_at(
        &page,
        "7-whole",
        &[("1280,2000", "desktop"), ("390,3400", "phone")],
    );
}

#[test]
fn a_web_url_that_would_show_a_password_or_break_the_page_is_refused_at_start() {
    for (url, expected) in [
        (
            "https://ci:hunter2@git.example.com/acme/cfg",
            "user name or password",
        ),
        (
            "javascript:alert(1)",
            "must start with `https://` or `http://`",
        ),
        ("https://git.example.com/\"><script>", "percent-encode"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args([
                "serve",
                "--repo",
                "git://127.0.0.1:9/none.git",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--web-url", url])
            .env_remove("CFGUPDATE_WEB_URL")
            .env("CFGUPDATE_CACHE_DIR", tempfile::tempdir().unwrap().path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password was printed: {stderr}"
        );
        assert!(output.stdout.is_empty(), "it listened: {url}");
    }
}

#[test]
fn an_empty_web_url_variable_counts_as_unset() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: vec![("CFGUPDATE_WEB_URL", String::new())],
        args: vec![],
    });
    let answer = get(&server.at("/"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.text.contains("<code class=\"commit\""),
        "{}",
        answer.text
    );
    assert!(
        !answer.text.contains("<a class=\"commit\""),
        "{}",
        answer.text
    );
}
