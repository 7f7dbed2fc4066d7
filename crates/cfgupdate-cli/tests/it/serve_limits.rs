//! `cfgupdate serve` against strangers and broken branches, through the real binary over real
//! HTTP against a `git daemon`: slow and half-sent clients, more connections than the cap,
//! named tokens and secrets from files, a branch whose own `cfgupdate.toml` is broken and then
//! fixed, and credentials in the remote's URL.

use crate::serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use cfgupdate_tests::{GitDaemon, Person, git};
use serve_support::*;

struct Setup {
    daemon: GitDaemon,
    bare: std::path::PathBuf,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    Setup {
        daemon,
        bare,
        dir: tempfile::tempdir().unwrap(),
    }
}

fn serve(setup: &Setup, name: &str, env: Vec<(&'static str, String)>, args: Vec<&str>) -> Server {
    let url = setup.daemon.url("config.git");
    Server::start(Options {
        repo: &url,
        cache: &setup.dir.path().join(format!("cache-{name}")),
        log: setup.dir.path().join(format!("{name}.log")),
        env,
        args,
    })
}

fn address(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Reads what the server sends until it closes or `within` passes.
fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn slow_half_sent_and_surplus_connections_leave_the_service_answering() {
    let setup = setup();
    let server = serve(
        &setup,
        "limits",
        all_credentials(),
        vec!["--max-connections", "16", "--header-timeout", "2s"],
    );
    let address = address(&server);
    // Slow-header clients, four times the cap: half a request line each, then nothing.
    let mut slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).unwrap();
            let _ = stream.write_all(b"POST /v1/images HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            stream
        })
        .collect();
    // Half-sent unauthenticated 1 MiB bodies: refused before the body is read.
    let mut refused = 0;
    for _ in 0..8 {
        let mut stream = TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer not-a-token\r\nContent-Length: 1048576\r\n\r\n")
            .unwrap();
        stream.write_all(&[b' '; 4096]).unwrap();
        let answer = read_answer(&mut stream, Duration::from_secs(30));
        if answer.starts_with("HTTP/1.1 401") {
            refused += 1;
        }
    }
    assert_eq!(refused, 8, "every unauthenticated body was refused");
    // A real announcement lands while the slow clients still hold their connections.
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "committed");
    // The slow clients were cut off by the header deadline.
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut rest = Vec::new();
        let closed = match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a slow client kept its connection");
    }
    let answer = get(&server.at("/healthz"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(git(&setup.bare, &["fsck", "--strict"]), "");
}

#[test]
fn a_body_sent_slower_than_its_deadline_is_408_and_frees_its_connection() {
    let setup = setup();
    let server = serve(
        &setup,
        "slowbody",
        all_credentials(),
        vec!["--body-timeout", "1s"],
    );
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let head = format!(
        "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {CI_TOKEN}\r\nContent-Length: 1000\r\n\r\n{{\"app_commit\""
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[test]
fn named_tokens_and_secrets_from_files_identify_callers() {
    let setup = setup();
    let tokens = setup.dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"jenkins\"\nscope = \"ci\"\nsha256 = \"{}\"\n",
            cfgupdate_http::token_sha256(b"jenkins-secret")
        ),
    )
    .unwrap();
    let deploy_file = setup.dir.path().join("deploy");
    std::fs::write(&deploy_file, format!("{DEPLOY_TOKEN}\n")).unwrap();
    let server = serve(
        &setup,
        "tokens",
        vec![
            ("CFGUPDATE_TOKENS_FILE", tokens.display().to_string()),
            (
                "CFGUPDATE_DEPLOY_TOKEN_FILE",
                deploy_file.display().to_string(),
            ),
            ("CFGUPDATE_ADMIN_TOKEN", format!("{ADMIN_TOKEN}\n")),
        ],
        vec![],
    );
    let answer = post_as(
        &server.at("/v1/images"),
        "jenkins-secret",
        &announcement(2, "api"),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let report = serde_json::json!({"target": "staging-us", "revision": "0".repeat(40), "status": "succeeded"}).to_string();
    let answer = post_as(&server.at("/v1/deployments"), DEPLOY_TOKEN, &report);
    assert_ne!(answer.status, 401, "{}", answer.text);
    assert_ne!(answer.status, 403, "{}", answer.text);
    let log = server.log();
    assert!(log.contains("caller=jenkins"), "{log}");
    assert!(
        log.contains("CFGUPDATE_ADMIN_TOKEN ends in a newline or whitespace"),
        "{log}"
    );
    assert!(
        !log.contains("jenkins-secret") && !log.contains(DEPLOY_TOKEN),
        "{log}"
    );
}

#[test]
fn a_broken_tokens_file_or_a_secret_given_twice_stops_serve_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        "[[token]]\nname = \"ops\"\nscope = \"operator\"\nsha256 = \"00\"\n",
    )
    .unwrap();
    let run = |env: Vec<(&str, String)>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cfgupdate"));
        command
            .args(["serve", "--repo", "/nonexistent", "--listen", "127.0.0.1:0"])
            .env("CFGUPDATE_CACHE_DIR", dir.path().join("cache"));
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let output = run(vec![(
        "CFGUPDATE_TOKENS_FILE",
        tokens.display().to_string(),
    )]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}, line 3, key `scope`", tokens.display())),
        "{stderr}"
    );
    let output = run(vec![
        ("CFGUPDATE_CI_TOKEN", "a".into()),
        ("CFGUPDATE_CI_TOKEN_FILE", tokens.display().to_string()),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("both CFGUPDATE_CI_TOKEN and CFGUPDATE_CI_TOKEN_FILE"),
        "{stderr}"
    );
}

#[test]
fn a_broken_pipeline_file_is_503_and_not_ready_until_fixed_then_the_next_announcement_lands() {
    let setup = setup();
    let server = serve(&setup, "broken", all_credentials(), vec![]);
    let images = server.at("/v1/images");
    // Warm the service's cache on the good pipeline.
    let answer = post_as(&images, CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let person = Person::clone(&setup.daemon.url("config.git"), "master", "Pat");
    let good = std::fs::read_to_string(person.dir().join("cfgupdate.toml")).unwrap();
    person.commit_and_push(
        &[(
            "cfgupdate.toml",
            "[[wave]]\nname = \"staging\"\nimages = \n",
        )],
        "Break the pipeline file",
    );
    let broken_tip = git(&setup.bare, &["rev-parse", "master"]);
    let answer = post_as(&images, CI_TOKEN, &announcement(2, "api"));
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(answer.header("retry-after").is_some());
    assert!(answer.error().contains("cfgupdate.toml"), "{}", answer.text);
    let ready = get(&server.at("/readyz"));
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(ready.error().contains("cfgupdate.toml"), "{}", ready.text);
    assert_eq!(git(&setup.bare, &["rev-parse", "master"]), broken_tip);
    // A person fixes it: the very next announcement lands (no 422 from the stale copy).
    person.commit_and_push(&[("cfgupdate.toml", &good)], "Fix the pipeline file");
    let answer = post_as(&images, CI_TOKEN, &announcement(3, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["result"], "committed");
    let ready = get(&server.at("/readyz"));
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(git(&setup.bare, &["fsck", "--strict"]), "");
}

#[test]
fn a_token_in_the_remote_url_never_reaches_readyz_or_status() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9: the remote cannot be reached, and the error names the URL.
    let url = "git://deploy-bot:tok3n-s3cret@127.0.0.1:9/config.git";
    let server = Server::start(Options {
        repo: url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env: all_credentials(),
        args: vec![],
    });
    for path in ["/readyz", "/v1/status"] {
        let answer = get(&server.at(path));
        assert_eq!(answer.status, 503, "{path}: {}", answer.text);
        assert!(!answer.text.contains("tok3n"), "{path}: {}", answer.text);
    }
}

#[test]
fn a_standard_webhooks_delivery_lands_once_and_its_repeat_is_answered_as_the_first() {
    let setup = setup();
    let mut env = all_credentials();
    // `whsec_` + base64 of the key bytes, as the specification writes it.
    env.push((
        "CFGUPDATE_CI_WEBHOOK_SECRET",
        "whsec_d2ViaG9vay1rZXk=".into(),
    ));
    let server = serve(&setup, "webhooks", env, vec![]);
    let images = server.at("/v1/images");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = announcement(21, "api");
    let deliver = |id: &str, at: u64| {
        let signature = cfgupdate_http::sign_webhook(b"webhook-key", id, at, body.as_bytes());
        let at = at.to_string();
        post(
            &images,
            &[
                ("webhook-id", id),
                ("webhook-timestamp", &at),
                ("webhook-signature", &signature),
            ],
            &body,
        )
    };
    let first = deliver("msg_21", now);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["result"], "committed");
    let tip = git(&setup.bare, &["rev-parse", "master"]);
    let again = deliver("msg_21", now);
    assert_eq!(
        (again.status, again.text.as_str()),
        (200, first.text.as_str())
    );
    assert_eq!(
        git(&setup.bare, &["rev-parse", "master"]),
        tip,
        "no new commit"
    );
    let expired = deliver("msg_22", now - 600);
    assert_eq!(expired.status, 401, "{}", expired.text);
    assert!(expired.error().contains("5 minutes"), "{}", expired.text);
    assert_eq!(git(&setup.bare, &["rev-parse", "master"]), tip);
}

#[test]
fn a_hostile_request_cannot_write_a_long_or_forged_log_line() {
    let setup = setup();
    let server = serve(&setup, "logs", all_credentials(), vec![]);
    // A 50 KB path, with what would look like a log line of its own when percent-decoded.
    let forged = "%0A2026-12-01T00:00:00Z%20INFO%20request%20code=200";
    let path = format!("/{}{forged}", "a".repeat(50_000));
    let answer = get(&server.at(&path));
    assert_eq!(
        answer.status,
        404,
        "{}",
        &answer.text[..answer.text.len().min(300)]
    );
    let log = server.log();
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2_000, "a log line of {longest} bytes");
    assert!(log.contains("more characters"), "the path was cut: {log}");
    assert!(
        !log.lines()
            .any(|line| line.starts_with("2026-12-01T00:00:00Z"))
    );
}
