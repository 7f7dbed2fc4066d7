//! Notifications from a running `cfgupdate serve` against a `git daemon` (docs/notifications.md):
//! local HTTP sinks receive every event the run produces, signed (checked here with an HMAC
//! of the test's own), Slack's message escaped, a failing sink retried; a sink that is down or
//! never answers delays no announcement, and its failures are counted in `/metrics`.

use crate::serve_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cfgupdate_tests::{GitDaemon, Person, git, install_hook};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use serve_support::*;
use sha2::Sha256;

/// The key of the notification secret below (`whsec_` + base64 of it).
const KEY: &[u8] = b"notify-test-key-0123";

fn whsec() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

/// A request a sink received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// How a sink answers.
#[derive(Clone, Copy)]
pub(crate) enum Answers {
    /// 503 to the first `n` requests, 204 after.
    FailFirst(usize),
    /// Reads the request and never answers (the connection stays open).
    Never,
}

/// A local HTTP sink on a thread, recording what it receives.
pub(crate) struct Sink {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A connection a sink serves: plain TCP, or TLS over it.
trait Connection: Read + Write + Send + 'static {}
impl<T: Read + Write + Send + 'static> Connection for T {}

impl Sink {
    pub(crate) fn start(answers: Answers) -> Sink {
        Self::start_with(answers, |stream| Some(Box::new(stream)))
    }

    /// A sink whose connections are first made into `wrap(stream)` (a TLS handshake).
    fn start_with(
        answers: Answers,
        wrap: impl Fn(TcpStream) -> Option<Box<dyn Connection>> + Send + 'static,
    ) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Some(mut stream) = stream.ok().and_then(&wrap) else {
                    continue;
                };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let count = {
                    let mut all = record.lock().unwrap();
                    all.push(request);
                    all.len()
                };
                match answers {
                    Answers::FailFirst(n) => {
                        let status = if count <= n {
                            "503 Service Unavailable"
                        } else {
                            "204 No Content"
                        };
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        let _ = stream.flush();
                    }
                    Answers::Never => held.push(stream),
                }
            }
        });
        Sink { port, received }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until a request satisfies `check`, and returns it.
    pub(crate) fn wait_for(&self, what: &str, check: impl Fn(&Received) -> bool) -> Received {
        let mut found = None;
        eventually(Duration::from_secs(60), what, || {
            found = self.received().into_iter().find(|r| check(r));
            found.is_some()
        });
        found.unwrap()
    }
}

/// One request, read whole (the sender sends one per connection and waits for the answer,
/// so the reader holds nothing beyond it).
fn read_request(stream: &mut dyn Connection) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split(' ').nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        target,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// Verifies a Standard Webhooks delivery as a receiver would, independently of cfgupdate's
/// own code: HMAC-SHA256 over `id.timestamp.body`, base64, after `v1,`.
fn assert_signed(request: &Received) {
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(request.header("webhook-signature"), expected, "{request:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed: u64 = timestamp.parse().unwrap();
    assert!(now.abs_diff(signed) < 300, "timestamp {signed}, now {now}");
}

/// The value of one series in `/metrics`.
fn metric(server: &Server, series: &str) -> f64 {
    let text = get(&server.at("/metrics")).text;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

pub(crate) fn event_of(received: &Received) -> String {
    received.json()["event"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_event_of_a_release_reaches_the_webhook_signed_and_slack_escaped_and_a_failing_sink_is_retried()
 {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let url = daemon.url("config.git");
    // The webhook refuses its first two requests: the first event needs three attempts.
    let webhook = Sink::start(Answers::FailFirst(2));
    let slack = Sink::start(Answers::FailFirst(0));
    let mut env = all_credentials();
    env.push((
        "CFGUPDATE_NOTIFY_URLS",
        webhook.url("/hooks/cfgupdate?token=WEBHOOK-TOKEN-77"),
    ));
    env.push(("CFGUPDATE_NOTIFY_SECRET", whsec()));
    env.push((
        "CFGUPDATE_SLACK_WEBHOOK_URL",
        slack.url("/services/T0/B0/SLACK-TOKEN-99"),
    ));
    let server = Server::start(Options {
        repo: &url,
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    let report = |target: &str, revision: &str, status: &str| {
        let body = json!({ "target": target, "revision": revision, "status": status });
        let answer = post_as(
            &server.at("/v1/deployments"),
            DEPLOY_TOKEN,
            &body.to_string(),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    };

    // published: after two refusals, the third attempt is taken, with the same delivery id.
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let c1 = answer.json()["commit"].as_str().unwrap().to_owned();
    webhook.wait_for("the third attempt of `published`", |_| {
        webhook.received().len() >= 3
    });
    let attempts = webhook.received();
    let published = &attempts[2];
    assert_eq!(published.target, "/hooks/cfgupdate?token=WEBHOOK-TOKEN-77");
    assert_signed(published);
    assert!(
        attempts[..3]
            .iter()
            .all(|a| a.header("webhook-id") == published.header("webhook-id")
                && event_of(a) == "published"),
        "{attempts:?}"
    );
    let body = published.json();
    assert_eq!(
        (
            body["event"].as_str(),
            body["wave"].as_str(),
            body["commit"].as_str()
        ),
        (Some("published"), Some("staging"), Some(c1.as_str()))
    );
    assert_eq!(body["images"], json!({ "api": reference("api", 1) }));
    let at: jiff::Timestamp = body["at"].as_str().unwrap().parse().unwrap();
    assert!(
        at.as_second().abs_diff(jiff::Timestamp::now().as_second()) < 300,
        "{body}"
    );
    let text = slack
        .wait_for("Slack's `published`", |r| r.body.contains("Published"))
        .json()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("into `staging`"), "{text}");
    assert!(text.contains(&reference("api", 1)), "{text}");

    // promoted (by the service's soak timer) and approval_pending (a report).
    report("staging-us", &c1, "succeeded");
    report("staging-eu", &c1, "succeeded");
    let promoted = webhook.wait_for("`promoted` into internal", |r| {
        event_of(r) == "promoted" && r.json()["wave"] == "internal"
    });
    assert_signed(&promoted);
    assert_eq!(
        promoted.json()["images"],
        json!({ "api": reference("api", 1) }),
        "the images the promotion changed"
    );
    let p1 = promoted.json()["commit"].as_str().unwrap().to_owned();
    assert_eq!(git(&bare, &["rev-parse", "master"]).trim(), p1);
    report("internal", &p1, "succeeded");
    let pending = webhook.wait_for("`approval_pending`", |r| event_of(r) == "approval_pending");
    let body = pending.json();
    assert_eq!(
        (body["wave"].as_str(), body["commit"].as_str()),
        (Some("production"), Some(p1.as_str()))
    );
    assert!(
        body["reason"].as_str().unwrap().contains("approval"),
        "{body}"
    );

    // deploy_failed, then promoted by the approval.
    report("prod", &p1, "failed");
    let failed = webhook.wait_for("`deploy_failed`", |r| event_of(r) == "deploy_failed");
    let body = failed.json();
    assert_eq!(
        (
            body["target"].as_str(),
            body["wave"].as_str(),
            body["commit"].as_str()
        ),
        (Some("prod"), Some("production"), Some(p1.as_str()))
    );
    let answer = post_as(
        &server.at("/v1/approvals"),
        ADMIN_TOKEN,
        r#"{"wave": "production"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let p2 = answer.json()["commit"].as_str().unwrap().to_owned();
    webhook.wait_for("`promoted` into production", |r| {
        event_of(r) == "promoted" && r.json()["commit"] == p2.as_str()
    });

    // push_refused, in the remote's own words, which Slack gets escaped.
    install_hook(
        &bare,
        "pre-receive",
        "#!/bin/sh\necho 'GL-HOOK-ERR: <!channel> frozen & <https://evil.example|locked>' >&2\nexit 1\n",
    );
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(2, "api"));
    assert_eq!(answer.status, 502, "{}", answer.text);
    let refused = webhook.wait_for("`push_refused`", |r| event_of(r) == "push_refused");
    let reason = refused.json()["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("<!channel> frozen & <https://evil.example|locked>"),
        "{reason}"
    );
    let text = slack
        .wait_for("Slack's `push_refused`", |r| {
            r.body.contains("Push refused")
        })
        .json()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("&lt;!channel&gt; frozen &amp; &lt;https://evil.example|locked&gt;"),
        "{text}"
    );
    assert!(!text.contains("<!channel>"), "{text}");

    // Every event reached both sinks once; the webhook's refusals were retried and counted.
    let events: Vec<String> = webhook.received().iter().skip(2).map(event_of).collect();
    assert_eq!(
        events,
        [
            "published",
            "promoted",
            "approval_pending",
            "deploy_failed",
            "promoted",
            "push_refused"
        ]
    );
    assert_eq!(slack.received().len(), 6);
    eventually(Duration::from_secs(10), "the counts", || {
        metric(
            &server,
            "cfgupdate_notifications_total{sink=\"webhook\",outcome=\"delivered\"}",
        ) == 6.0
            && metric(
                &server,
                "cfgupdate_notifications_total{sink=\"slack\",outcome=\"delivered\"}",
            ) == 6.0
    });
    assert_eq!(
        metric(
            &server,
            "cfgupdate_notification_attempts_total{sink=\"webhook\",outcome=\"error\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &server,
            "cfgupdate_notifications_total{sink=\"webhook\",outcome=\"failed\"}"
        ),
        0.0
    );
    // No token of a sink's URL and no secret is ever shown.
    let shown = format!("{}{}", server.log(), get(&server.at("/metrics")).text);
    for secret in [
        "WEBHOOK-TOKEN-77",
        "SLACK-TOKEN-99",
        "/services/T0",
        whsec().as_str(),
    ] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
    assert!(
        shown.contains(&format!("http://127.0.0.1:{}/…", slack.port)),
        "{shown}"
    );
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn a_sink_that_is_down_or_never_answers_delays_no_announcement_and_its_failures_are_counted() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    daemon.create_remote("plain.git", "master", &file_refs(&files));
    daemon.create_remote("notified.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let silent = Sink::start(Answers::Never);
    let plain = Server::start(Options {
        repo: &daemon.url("plain.git"),
        cache: &dir.path().join("plain-cache"),
        log: dir.path().join("plain.log"),
        env: all_credentials(),
        args: vec![],
    });
    let mut env = all_credentials();
    env.push((
        "CFGUPDATE_NOTIFY_URLS",
        format!("http://127.0.0.1:{down}/hook,{}", silent.url("/hook")),
    ));
    env.push(("CFGUPDATE_SLACK_WEBHOOK_URL", silent.url("/slack")));
    // An attempt at the silent sink lasts a minute: an announcement that waited for one
    // would take that long.
    let notified = Server::start(Options {
        repo: &daemon.url("notified.git"),
        cache: &dir.path().join("notified-cache"),
        log: dir.path().join("notified.log"),
        env,
        args: vec!["--notify-timeout", "60s", "--notify-attempts", "2"],
    });

    let (mut without, mut with) = (Vec::new(), Vec::new());
    for i in 1..=5 {
        for (server, times) in [(&plain, &mut without), (&notified, &mut with)] {
            let started = Instant::now();
            let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(i, "api"));
            times.push(started.elapsed());
            assert_eq!(answer.status, 200, "{}", answer.text);
            assert_eq!(answer.json()["result"], "committed");
        }
    }
    // The silent sink holds its first attempts open while the announcements were answered.
    silent.wait_for("the webhook's attempt", |r| r.target == "/hook");
    silent.wait_for("Slack's attempt", |r| r.target == "/slack");
    eprintln!("announcements without notifications {without:?}, with dead sinks {with:?}");
    assert!(
        with.iter().all(|t| *t < Duration::from_secs(30)),
        "an announcement waited for a sink: {with:?}"
    );
    let worst_without = *without.iter().max().unwrap();
    assert!(
        median(with.clone()) <= worst_without * 3,
        "with dead sinks {with:?}, without {without:?}"
    );
    // The sink that is down: each event tried twice, then given up; both counted.
    eventually(Duration::from_secs(60), "the failures are counted", || {
        metric(
            &notified,
            "cfgupdate_notifications_total{sink=\"webhook\",outcome=\"failed\"}",
        ) >= 1.0
    });
    assert!(
        metric(
            &notified,
            "cfgupdate_notification_attempts_total{sink=\"webhook\",outcome=\"error\"}"
        ) >= 2.0
    );
    assert_eq!(
        metric(
            &notified,
            "cfgupdate_notifications_total{sink=\"webhook\",outcome=\"delivered\"}"
        ),
        0.0
    );
    assert!(
        notified.log().contains("notification not delivered"),
        "{}",
        notified.log()
    );
}

#[test]
fn an_https_sink_receives_its_events_and_one_with_an_untrusted_certificate_is_refused() {
    use cfgupdate_tests::{ServerCertificate, TestPki};
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

    let daemon = GitDaemon::start().unwrap();
    let files = files();
    daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(&dir.path().join("pki")).unwrap();
    let tls_sink = |kind| {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor
            .set_private_key_file(pki.server_key(), SslFiletype::PEM)
            .unwrap();
        acceptor
            .set_certificate_chain_file(pki.server_certificate(kind))
            .unwrap();
        let acceptor = acceptor.build();
        Sink::start_with(Answers::FailFirst(0), move |stream| {
            let tls = acceptor.accept(stream).ok()?;
            Some(Box::new(tls) as Box<dyn Connection>)
        })
    };
    let trusted = tls_sink(ServerCertificate::Valid);
    let untrusted = tls_sink(ServerCertificate::UnknownCa);
    let mut env = all_credentials();
    env.push((
        "CFGUPDATE_NOTIFY_URLS",
        format!(
            "https://127.0.0.1:{}/tls-hook,https://127.0.0.1:{}/tls-hook",
            trusted.port, untrusted.port
        ),
    ));
    env.push(("CFGUPDATE_NOTIFY_SECRET", whsec()));
    env.push((
        "CFGUPDATE_NOTIFY_CA_FILE",
        pki.ca_file().display().to_string(),
    ));
    let server = Server::start(Options {
        repo: &daemon.url("config.git"),
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec!["--notify-attempts", "1"],
    });
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);

    let received = trusted.wait_for("`published` over TLS", |r| event_of(r) == "published");
    assert_eq!(received.target, "/tls-hook");
    assert_signed(&received);
    eventually(
        Duration::from_secs(30),
        "the untrusted sink's failure is counted",
        || {
            metric(
                &server,
                "cfgupdate_notifications_total{sink=\"webhook\",outcome=\"failed\"}",
            ) == 1.0
        },
    );
    assert!(untrusted.received().is_empty());
    assert_eq!(
        metric(
            &server,
            "cfgupdate_notifications_total{sink=\"webhook\",outcome=\"delivered\"}"
        ),
        1.0
    );
}

#[test]
fn a_notification_setting_that_cannot_be_used_stops_serve_naming_the_variable_not_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, value: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args([
                "serve",
                "--repo",
                "git://127.0.0.1:9/none.git",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("CFGUPDATE_CACHE_DIR", dir.path())
            .env("CFGUPDATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env(name, value)
            .output()
            .unwrap()
    };
    for (name, value, said) in [
        (
            "CFGUPDATE_NOTIFY_URLS",
            "https://ok.example/x, hooks.example.com/t0ken-1",
            "CFGUPDATE_NOTIFY_URLS, entry 2: the URL is not a URL",
        ),
        (
            "CFGUPDATE_SLACK_WEBHOOK_URL",
            "https://user:t0ken-2@hooks.slack.com/services/x",
            "CFGUPDATE_SLACK_WEBHOOK_URL: the URL holds a user name or password",
        ),
        (
            "CFGUPDATE_NOTIFY_SECRET",
            "whsec_t0ken-3!",
            "CFGUPDATE_NOTIFY_SECRET is not a Standard Webhooks secret",
        ),
    ] {
        let output = run(name, value);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(said), "{name}: {stderr}");
        assert!(!stderr.contains("t0ken"), "{name}: {stderr}");
    }
}

#[test]
fn a_stale_announcement_is_refused_and_one_for_a_held_service_held_each_with_its_images() {
    let daemon = GitDaemon::start().unwrap();
    let mut files = files();
    files[0].1 = PIPELINE.replacen(
        "targets = [\"staging-us\", \"staging-eu\"]\n",
        "targets = [\"staging-us\", \"staging-eu\"]\nhold = [\"web\"]\n",
        1,
    );
    daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let webhook = Sink::start(Answers::FailFirst(0));
    let mut env = all_credentials();
    env.push(("CFGUPDATE_NOTIFY_URLS", webhook.url("/hook")));
    let server = Server::start(Options {
        repo: &daemon.url("config.git"),
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    let announce = |i: usize, service: &str, build: u64| {
        let body = json!({
            "app_commit": app(i),
            "images": { service: reference(service, i) },
            "build": { "number": build },
        });
        post_as(&server.at("/v1/images"), CI_TOKEN, &body.to_string())
    };

    assert_eq!(announce(1, "api", 5).status, 200);
    let stale = announce(2, "api", 3);
    assert_eq!(stale.status, 409, "{}", stale.text);
    let refused = webhook
        .wait_for("`refused`", |r| event_of(r) == "refused")
        .json();
    assert_eq!(refused["wave"], "staging");
    assert_eq!(refused["images"], json!({ "api": reference("api", 2) }));
    assert_eq!(refused["reason"].as_str(), Some(stale.error().as_str()));

    let held = announce(3, "web", 6);
    assert_eq!(held.status, 409, "{}", held.text);
    let event = webhook.wait_for("`held`", |r| event_of(r) == "held").json();
    assert_eq!(event["wave"], "staging");
    assert_eq!(event["images"], json!({ "web": reference("web", 3) }));
    assert!(
        event["reason"].as_str().unwrap().contains("`web`"),
        "{event}"
    );
    // Unsigned without a secret, yet with an id and a timestamp to recognise repeats by.
    let request = webhook.wait_for("`held`", |r| event_of(r) == "held");
    assert!(request.header("webhook-id").starts_with("msg_"));
    assert!(
        !request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("webhook-signature"))
    );
}

#[test]
fn events_still_queued_at_shutdown_go_out_before_serve_exits() {
    let daemon = GitDaemon::start().unwrap();
    let files = files();
    daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    // The first attempt fails: the event is still waiting for its retry when SIGTERM comes.
    let webhook = Sink::start(Answers::FailFirst(1));
    let mut env = all_credentials();
    env.push(("CFGUPDATE_NOTIFY_URLS", webhook.url("/hook")));
    let mut server = Server::start(Options {
        repo: &daemon.url("config.git"),
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    webhook.wait_for("the first attempt", |_| true);
    assert!(server.terminate().success(), "{}", server.log());
    let received = webhook.received();
    assert_eq!(received.len(), 2, "the retry went out during shutdown");
    assert!(received.iter().all(|r| event_of(r) == "published"));
}

#[test]
fn a_change_a_persons_push_made_moot_is_refused_once_by_one_of_two_replicas() {
    let daemon = GitDaemon::start().unwrap();
    let mut files = files();
    files[0].1 = format!("[strict]\nbranch = \"auto\"\n\n{}", files[0].1);
    daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let webhook = Sink::start(Answers::FailFirst(0));
    let url = daemon.url("config.git");
    let servers: Vec<Server> = (0..2)
        .map(|i| {
            let mut env = all_credentials();
            env.push(("CFGUPDATE_NOTIFY_URLS", webhook.url("/hook")));
            Server::start(Options {
                repo: &url,
                cache: &dir.path().join(format!("cache-{i}")),
                log: dir.path().join(format!("serve-{i}.log")),
                env,
                args: vec![],
            })
        })
        .collect();
    let publish_to = |server: &Server, i: usize, service: &str| {
        let answer = post_as(
            &server.at("/v1/images"),
            CI_TOKEN,
            &announcement(i, service),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["commit"].as_str().unwrap().to_owned()
    };
    let moot = publish_to(&servers[0], 1, "api");
    publish_to(&servers[0], 2, "web");
    // A person sets api in staging on the main branch: the change waiting for it is moot.
    let person = Person::clone(&url, "master", "person");
    let images = files
        .iter()
        .find(|(path, _)| path == "envs/staging/images.libsonnet")
        .unwrap()
        .1
        .replace(&zero("api"), &reference("api", 99));
    person.write("envs/staging/images.libsonnet", &images);
    person.commit("Set api by hand");
    person.push();
    // Both replicas fetch (each status request does), a few times.
    for _ in 0..3 {
        for server in &servers {
            assert_eq!(get(&server.at("/v1/status")).status, 200);
        }
    }
    let refused = webhook
        .wait_for("`refused` for the dropped change", |r| {
            event_of(r) == "refused" && r.json()["commit"] == moot.as_str()
        })
        .json();
    assert_eq!(refused["wave"], "staging");
    assert_eq!(refused["images"], json!({ "api": reference("api", 1) }));
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("a person set api"),
        "{refused}"
    );
    // Once, whichever replica recorded the drop: more fetches send nothing more about it.
    // Each replica's events go out in order, so once each one's later `published` arrived,
    // anything it sent about the drop has too.
    for server in &servers {
        assert_eq!(get(&server.at("/v1/status")).status, 200);
    }
    for (server, (i, service)) in servers.iter().zip([(3, "worker"), (4, "cron")]) {
        publish_to(server, i, service);
        webhook.wait_for("`published` of a later change", |r| {
            event_of(r) == "published" && r.json()["images"][service].is_string()
        });
    }
    let about_moot = webhook
        .received()
        .iter()
        .filter(|r| event_of(r) == "refused" && r.json()["commit"] == moot.as_str())
        .count();
    assert_eq!(about_moot, 1, "{:?}", webhook.received());
}

/// A wave behind a soak and an approval: the report that completes the wave before it says
/// "soak", so the service's own pass says `approval_pending` once the soak ended, and once.
#[test]
fn a_soak_that_ends_into_an_approval_gate_sends_approval_pending_once() {
    let daemon = GitDaemon::start().unwrap();
    let mut files = files();
    for (path, text) in &mut files {
        if path == "cfgupdate.toml" {
            *text = text.replace("soak = \"2s\"", "soak = \"2s\"\napproval = true");
        }
    }
    let bare = daemon.create_remote("config.git", "master", &file_refs(&files));
    let dir = tempfile::tempdir().unwrap();
    let webhook = Sink::start(Answers::FailFirst(0));
    let mut env = all_credentials();
    env.push(("CFGUPDATE_NOTIFY_URLS", webhook.url("/hooks")));
    let server = Server::start(Options {
        repo: &daemon.url("config.git"),
        cache: &dir.path().join("cache"),
        log: dir.path().join("serve.log"),
        env,
        args: vec![],
    });
    let answer = post_as(&server.at("/v1/images"), CI_TOKEN, &announcement(1, "api"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let c1 = answer.json()["commit"].as_str().unwrap().to_owned();
    for target in ["staging-us", "staging-eu"] {
        let body = json!({ "target": target, "revision": c1, "status": "succeeded" });
        let answer = post_as(
            &server.at("/v1/deployments"),
            DEPLOY_TOKEN,
            &body.to_string(),
        );
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let pending = webhook.wait_for("`approval_pending` after the soak", |r| {
        event_of(r) == "approval_pending"
    });
    let body = pending.json();
    assert_eq!(
        (body["wave"].as_str(), body["commit"].as_str()),
        (Some("internal"), Some(c1.as_str()))
    );
    // Nothing was promoted, and the next passes do not say it again.
    thread::sleep(Duration::from_secs(4));
    let events: Vec<String> = webhook.received().iter().map(event_of).collect();
    assert_eq!(
        events.iter().filter(|e| *e == "approval_pending").count(),
        1,
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "promoted"), "{events:?}");
    assert_eq!(git(&bare, &["rev-parse", "master"]).trim(), c1);
}
