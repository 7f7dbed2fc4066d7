//! The notifier with a fake sender: formats, signatures (checked by an HMAC of the test's
//! own), retries, drops, repeats; and the core's answers as events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use cfgupdate_core::promotion::{
    Advance, DeployReport, DeployStatus, DeploymentOutcome, Gate, PromotionError, TargetSelector,
};
use cfgupdate_core::testing::ManualClock;
use cfgupdate_core::{
    Announcement, CommitId, DeferredRun, Due, ImageRef, ImageSet, PublishError, PublishOutcome,
    RepositoryError, RepositoryErrorKind, RetryPolicy, ServiceName, TargetName, WaveName,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::outcomes::{self, Facts};
use super::*;
use crate::settings::Secret;

const NOW: u64 = 1_800_000_000;

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
}

fn wave(name: &str) -> WaveName {
    WaveName::parse(name).unwrap()
}

fn commit(n: u8) -> CommitId {
    CommitId::parse(&format!("{n:040x}")).unwrap()
}

fn images(pairs: &[(&str, &str)]) -> ImageSet {
    pairs
        .iter()
        .map(|(s, r)| (ServiceName::parse(s).unwrap(), ImageRef::parse(r).unwrap()))
        .collect()
}

fn api_image() -> String {
    format!("reg.example.com/api:1.2@sha256:{}", "a".repeat(64))
}

/// A sender that answers from a script (then `Ok`), records what it was sent, and may hold
/// every attempt until the test lets it through.
struct Fake {
    script: Mutex<VecDeque<Result<(), SendError>>>,
    sent: Mutex<Vec<(Endpoint, Outgoing)>>,
    gate: Option<Arc<Semaphore>>,
    arrived: Arc<Semaphore>,
}

impl Default for Fake {
    fn default() -> Self {
        Self {
            script: Mutex::default(),
            sent: Mutex::default(),
            gate: None,
            arrived: Arc::new(Semaphore::new(0)),
        }
    }
}

#[async_trait]
impl Sender for Fake {
    async fn send(&self, endpoint: &Endpoint, request: &Outgoing) -> Result<(), SendError> {
        self.sent
            .lock()
            .unwrap()
            .push((endpoint.clone(), request.clone()));
        self.arrived.add_permits(1);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

fn down(status: u16) -> SendError {
    SendError::Status {
        endpoint: "http://sink/…".into(),
        status,
        detail: String::new(),
    }
}

fn settings(webhooks: usize, slack: bool) -> NotifySettings {
    NotifySettings {
        webhooks: (0..webhooks)
            .map(|i| Endpoint::parse(&format!("http://127.0.0.1:9/hook{i}?token=t{i}")).unwrap())
            .collect(),
        slack: slack
            .then(|| Endpoint::parse("https://hooks.slack.com/services/T/B/secret").unwrap()),
        secret: Secret::from_bytes(b"notify-key".to_vec()),
        retry: RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        },
        ..NotifySettings::default()
    }
}

struct Harness {
    notifier: Notifier,
    fake: Arc<Fake>,
    metrics: NotifyMetrics,
}

fn start(settings: &NotifySettings, fake: Fake) -> Harness {
    let fake = Arc::new(fake);
    let metrics = NotifyMetrics::default();
    let notifier = Notifier::start(
        settings,
        fake.clone(),
        Arc::new(ManualClock::at_seconds(NOW)),
        metrics.clone(),
    )
    .unwrap();
    Harness {
        notifier,
        fake,
        metrics,
    }
}

fn published(n: u8) -> Event {
    Event::new(EventKind::Published, at())
        .wave(&wave("staging"))
        .commit(&commit(n))
        .images(&images(&[("api", &api_image())]))
}

async fn settle(harness: &Harness) {
    harness.notifier.close(Duration::from_secs(10)).await;
}

#[test]
fn the_body_has_the_contracts_fields_and_every_event_its_name() {
    let event = published(1);
    let body: serde_json::Value = serde_json::from_str(&event.json()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "event": "published",
            "wave": "staging",
            "commit": format!("{:040x}", 1),
            "images": { "api": api_image() },
            "reason": null,
            "at": "2027-01-15T08:00:00Z",
        })
    );
    let failed = Event::new(EventKind::DeployFailed, at()).target("prod-eu");
    let body: serde_json::Value = serde_json::from_str(&failed.json()).unwrap();
    assert_eq!(body["target"], "prod-eu");
    assert_eq!(body["wave"], serde_json::Value::Null);
    let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        [
            "published",
            "promoted",
            "approval_pending",
            "deploy_failed",
            "refused",
            "deferred",
            "held",
            "push_refused",
            "rolled_back"
        ]
    );
}

#[test]
fn the_slack_message_escapes_what_slack_would_read_as_markup() {
    let event = Event::new(EventKind::Refused, at())
        .wave(&wave("production"))
        .reason("build <!channel> & <https://evil.example|click>");
    let text = slack_text(&event);
    assert_eq!(
        text,
        ":no_entry: *Refused* in `production`\nbuild &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    );
    let body: serde_json::Value = serde_json::from_str(&slack_body(&published(2))).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(":package: *Published* into `staging` at `000000000000`\n• `api`: `reg.example.com/api:1.2@sha256:"),
        "{text}"
    );
}

#[tokio::test]
async fn a_webhook_delivery_is_signed_over_id_timestamp_and_body() {
    let harness = start(&settings(2, true), Fake::default());
    harness.notifier.emit(published(1));
    settle(&harness).await;
    let sent = harness.fake.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 3, "two webhooks and Slack");
    for (endpoint, request) in &sent[..2] {
        assert!(endpoint.request_target().starts_with("/hook"));
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
        assert!(id.starts_with("msg_"), "{id}");
        assert_eq!(timestamp, NOW.to_string());
        // Verified as a receiver would, with an HMAC of the test's own.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"notify-key").unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(&request.body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(header("webhook-signature"), format!("v1,{expected}"));
        assert_eq!(request.body, published(1).json().as_bytes());
    }
    let (slack, request) = &sent[2];
    assert_eq!(slack.host(), "hooks.slack.com");
    assert!(request.headers.is_empty(), "Slack's message is not signed");
    assert_eq!(request.body, slack_body(&published(1)).as_bytes());
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "delivered"), 2);
    assert_eq!(harness.metrics.count(SinkKind::Slack, "delivered"), 1);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id_until_it_is_taken() {
    let fake = Fake::default();
    fake.script.lock().unwrap().extend([
        Err(down(503)),
        Err(SendError::Timeout {
            endpoint: "http://sink/…".into(),
            seconds: 10,
        }),
    ]);
    let harness = start(&settings(1, false), fake);
    harness.notifier.emit(published(1));
    settle(&harness).await;
    let sent = harness.fake.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    let ids: Vec<&String> = sent
        .iter()
        .map(|(_, r)| {
            &r.headers
                .iter()
                .find(|(n, _)| *n == "webhook-id")
                .unwrap()
                .1
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "delivered"), 1);
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "failed"), 0);
    assert_eq!(
        harness.metrics.attempts_of(SinkKind::Webhook),
        (1, 2),
        "one attempt taken, two failed"
    );
}

#[tokio::test]
async fn a_sink_that_keeps_failing_is_given_up_and_a_refusing_one_at_once() {
    let fake = Fake::default();
    fake.script.lock().unwrap().extend([
        Err(down(500)),
        Err(down(502)),
        Err(down(500)),
        Err(down(404)),
    ]);
    let harness = start(&settings(1, false), fake);
    harness.notifier.emit(published(1));
    harness.notifier.emit(published(2));
    settle(&harness).await;
    // Three attempts for the first event, one for the second (a 404 is not retried).
    assert_eq!(harness.fake.sent.lock().unwrap().len(), 4);
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "failed"), 2);
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "delivered"), 0);
    assert_eq!(harness.metrics.attempts_of(SinkKind::Webhook), (0, 4));
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_and_emitting_never_waits() {
    let gate = Arc::new(Semaphore::new(0));
    let fake = Fake {
        gate: Some(gate.clone()),
        ..Fake::default()
    };
    let arrived = fake.arrived.clone();
    let mut settings = settings(1, false);
    settings.queue_capacity = 1;
    let harness = start(&settings, fake);
    harness.notifier.emit(published(1));
    // The worker holds the first event (its sink does not answer) ...
    arrived.acquire().await.unwrap().forget();
    // ... one more waits in the queue, and the rest are dropped, without waiting.
    for n in 2..=5 {
        harness.notifier.emit(published(n));
    }
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "dropped"), 3);
    gate.add_permits(10);
    settle(&harness).await;
    assert_eq!(harness.metrics.count(SinkKind::Webhook, "delivered"), 2);
}

#[tokio::test]
async fn the_same_event_within_the_window_is_sent_once() {
    let harness = start(&settings(1, false), Fake::default());
    let refused = Event::new(EventKind::Refused, at())
        .wave(&wave("internal"))
        .reason("wave `internal`: no effect");
    harness.notifier.emit(refused.clone());
    harness.notifier.emit(refused.clone());
    let mut later = refused.clone();
    later.at = at() + REPEAT_WINDOW;
    harness.notifier.emit(later);
    // Announcements written together share a commit, and are each their own event.
    let web = published(1).images(&images(&[("web", &api_image().replace("api", "web"))]));
    harness.notifier.emit(published(1));
    harness.notifier.emit(web);
    settle(&harness).await;
    assert_eq!(harness.fake.sent.lock().unwrap().len(), 4);
}

#[test]
fn without_sinks_nothing_is_started_or_kept() {
    let notifier = Notifier::default();
    notifier.emit(published(1));
    assert!(notifier.inner.is_none());
}

// https sinks need the `https` feature (the binary's default; without it they are refused).
#[cfg(feature = "https")]
#[test]
fn settings_come_from_variables_or_files_and_errors_never_show_a_url() {
    let lookup = |name: &str| match name {
        NOTIFY_URLS_VAR => Some("http://a.example/x?token=1, ,https://b.example:8443/y".into()),
        "CFGUPDATE_SLACK_WEBHOOK_URL_FILE" => Some("/run/secrets/slack".into()),
        NOTIFY_SECRET_VAR => Some("whsec_bm90aWZ5LWtleQ==".into()),
        _ => None,
    };
    let read = |path: &str| match path {
        "/run/secrets/slack" => Ok("https://hooks.slack.com/services/T/B/s3cret\n".to_owned()),
        _ => Err("no such file".to_owned()),
    };
    let loaded = load(&lookup, &read).unwrap();
    assert_eq!(loaded.webhooks.len(), 2);
    assert_eq!(loaded.webhooks[1].to_string(), "https://b.example:8443/…");
    assert_eq!(
        loaded.slack.as_ref().unwrap().request_target(),
        "/services/T/B/s3cret"
    );
    assert_eq!(loaded.secret.unwrap().expose_bytes(), b"notify-key");
    assert!(!format!("{:?}", load(&lookup, &read).unwrap()).contains("s3cret"));

    let bad = |name: &str| match name {
        NOTIFY_URLS_VAR => Some("http://ok.example/,hooks.example.com/t0ken".into()),
        _ => None,
    };
    let error = load(&bad, &read).unwrap_err().to_string();
    assert_eq!(
        error,
        "CFGUPDATE_NOTIFY_URLS, entry 2: the URL is not a URL"
    );
    let bad = |name: &str| match name {
        NOTIFY_SECRET_VAR => Some("whsec_not base64!".into()),
        _ => None,
    };
    let error = load(&bad, &read).unwrap_err().to_string();
    assert!(
        error.starts_with("CFGUPDATE_NOTIFY_SECRET is not"),
        "{error}"
    );
    assert!(!error.contains("not base64!"), "{error}");
    let both = |name: &str| match name {
        SLACK_WEBHOOK_URL_VAR | "CFGUPDATE_SLACK_WEBHOOK_URL_FILE" => Some("x".into()),
        _ => None,
    };
    assert!(load(&both, &read).unwrap_err().to_string().contains("both"));
}

/// Facts the test states.
struct Stated {
    images: ImageSet,
    wave: Option<WaveName>,
}

impl Facts for Stated {
    fn images_written(&self, _: &WaveName, _: &CommitId) -> ImageSet {
        self.images.clone()
    }
    fn wave_of(&self, _: &TargetSelector, _: &CommitId) -> Option<WaveName> {
        self.wave.clone()
    }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

#[test]
fn the_cores_answers_become_events_and_nothing_is_decided_again() {
    let announcement = Announcement::new(commit(9), images(&[("api", &api_image())])).unwrap();
    let event = |result: Result<PublishOutcome, PublishError>| {
        outcomes::of_publish(&announcement, &result, at()).map(|e| e.kind.name())
    };
    assert_eq!(
        event(Ok(PublishOutcome::Committed {
            commit: commit(1),
            wave: wave("staging"),
            skipped: Vec::new(),
        })),
        Some("published")
    );
    assert_eq!(event(Ok(PublishOutcome::Unchanged)), None);
    let deferred = outcomes::of_publish(
        &announcement,
        &Ok(PublishOutcome::Deferred {
            until: at() + std::time::Duration::from_secs(3600),
            reason: "holidays".into(),
        }),
        at(),
    )
    .expect("a deferral is an event");
    assert_eq!(deferred.kind.name(), "deferred");
    let reason = deferred.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("frozen until ") && reason.ends_with("(holidays)"),
        "{reason}"
    );
    assert_eq!(
        event(Err(PublishError::Held {
            service: ServiceName::parse("api").unwrap(),
            wave: wave("staging")
        })),
        Some("held")
    );
    assert_eq!(
        event(Err(PublishError::Stale {
            service: ServiceName::parse("api").unwrap(),
            wave: wave("staging"),
            held: "2".into(),
            announced: "1".into()
        })),
        Some("refused")
    );
    assert_eq!(
        event(Err(PublishError::Repository(RepositoryError::new(
            RepositoryErrorKind::Declined,
            "the remote refused the push: protected branch"
        )))),
        Some("push_refused")
    );
    // The remote could not be reached: nothing was refused, the sender retries.
    assert_eq!(
        event(Err(PublishError::Repository(RepositoryError::new(
            RepositoryErrorKind::Unavailable,
            "connection refused"
        )))),
        None
    );

    let facts = Stated {
        images: images(&[("api", &api_image())]),
        wave: Some(wave("production")),
    };
    let report = |status| DeployReport {
        target: TargetSelector::Name(TargetName::parse("prod-eu").unwrap()),
        revision: commit(7),
        status,
    };
    let failed = outcomes::of_deployment(
        &facts,
        &report(DeployStatus::Failed),
        &Ok(DeploymentOutcome::Recorded {
            reason: "target `prod-eu` reported a failure".into(),
        }),
        at(),
    );
    assert_eq!(kinds(&failed), ["deploy_failed"]);
    assert_eq!(failed[0].target.as_deref(), Some("prod-eu"));
    assert_eq!(failed[0].wave, Some(wave("production")));
    assert_eq!(failed[0].commit, Some(commit(7)));
    let promoted = outcomes::of_deployment(
        &facts,
        &report(DeployStatus::Succeeded),
        &Ok(DeploymentOutcome::Promoted {
            commit: commit(8),
            wave: wave("internal"),
            completed_at: None,
        }),
        at(),
    );
    assert_eq!(kinds(&promoted), ["promoted"]);
    assert_eq!(promoted[0].images, facts.images);
    let pending = |gate| {
        outcomes::of_deployment(
            &facts,
            &report(DeployStatus::Succeeded),
            &Ok(DeploymentOutcome::Pending {
                wave: wave("production"),
                gate,
            }),
            at(),
        )
    };
    assert_eq!(kinds(&pending(Gate::Approval)), ["approval_pending"]);
    assert_eq!(pending(Gate::Approval)[0].commit, Some(commit(7)));
    assert!(pending(Gate::Soak { ready_at: None }).is_empty());

    let advance = Advance {
        refused: vec![PromotionError::Contended { attempts: 3 }],
        ..Advance::default()
    };
    let due = Due {
        advance,
        deferred: Ok(DeferredRun::default()),
    };
    assert!(outcomes::of_due(&facts, &Ok(due), at()).is_empty());
    // What a freeze deferred, published when the window ended, is a `published` event.
    let due = Due {
        advance: Advance::default(),
        deferred: Ok(DeferredRun {
            published: vec![(commit(8), wave("staging"))],
            ..DeferredRun::default()
        }),
    };
    let events = outcomes::of_due(&facts, &Ok(due), at());
    assert_eq!(kinds(&events), ["published"]);
    assert_eq!(events[0].commit, Some(commit(8)));
    // A soak that ended on the service's timer and left the promotion waiting for approval.
    let due = Due {
        advance: Advance {
            awaiting_approval: vec![(wave("production"), commit(9))],
            ..Advance::default()
        },
        deferred: Ok(DeferredRun::default()),
    };
    let events = outcomes::of_due(&facts, &Ok(due), at());
    assert_eq!(kinds(&events), ["approval_pending"]);
    assert_eq!(events[0].commit, Some(commit(9)));
    assert_eq!(events[0].wave, Some(wave("production")));
    let declined = Err(PromotionError::Repository(RepositoryError::new(
        RepositoryErrorKind::Declined,
        "hook said no",
    )));
    assert_eq!(
        kinds(&outcomes::of_due(&facts, &declined, at())),
        ["push_refused"]
    );
}

#[test]
fn the_signature_is_the_one_the_docs_python_verifier_computes() {
    // Computed with docs/notifications.md's Python (hmac, hashlib, base64) for the secret
    // `whsec_bm90aWZ5LWtleQ==`.
    assert_eq!(
        crate::auth::sign_webhook(
            b"notify-key",
            "msg_1",
            1_800_000_000,
            br#"{"event":"published"}"#
        ),
        "v1,sCkqe4rWyRrmddCO7+y6M734egwxak3R5Dfh+QIriyo="
    );
}

#[test]
fn a_rollback_that_wrote_a_commit_is_rolled_back_and_one_that_only_held_is_nothing() {
    let facts = Stated {
        images: images(&[("api", &api_image())]),
        wave: None,
    };
    let api = ServiceName::parse("api").unwrap();
    let rolled = Ok(cfgupdate_core::promotion::RollbackOutcome::RolledBack {
        commit: commit(4),
        wave: wave("production"),
        held: vec![api.clone()],
    });
    let event = outcomes::of_rollback(&facts, &rolled, at()).expect("an event");
    assert_eq!(event.kind.name(), "rolled_back");
    assert_eq!(event.images, facts.images);
    assert_eq!(
        event.reason.as_deref(),
        Some("held until `cfgupdate release`: api")
    );
    let held_only = Ok(cfgupdate_core::promotion::RollbackOutcome::Unchanged {
        wave: wave("production"),
        held: vec![api],
    });
    assert!(outcomes::of_rollback(&facts, &held_only, at()).is_none());
}

#[test]
fn a_strict_eviction_and_each_change_its_rebuild_dropped_are_refused_events() {
    use cfgupdate_core::strict::{CheckOutcome, Eviction, EvictionKind};
    let eviction = |n: u8, kind: EvictionKind, reason: &str| Eviction {
        commit: commit(n),
        subject: "Publish api".into(),
        action: "publish".into(),
        wave: Some(wave("staging")),
        images: images(&[("api", &api_image())]),
        app_commits: vec![commit(9)],
        kind,
        reason: reason.into(),
        at: 0,
    };
    let result = Ok(CheckOutcome::Evicted {
        eviction: Box::new(eviction(5, EvictionKind::Failed, "CI `lint` failed")),
        auto: commit(6),
        dropped: vec![eviction(7, EvictionKind::Dropped, "a person set api")],
    });
    let events = outcomes::of_check(&result, at());
    assert_eq!(kinds(&events), ["refused", "refused"]);
    assert_eq!(events[0].reason.as_deref(), Some("CI `lint` failed"));
    assert_eq!(events[1].reason.as_deref(), Some("a person set api"));
    assert!(outcomes::of_check(&Ok(CheckOutcome::Recorded), at()).is_empty());
}

#[test]
fn a_publish_held_back_by_a_rollback_is_held_and_a_published_event_lists_only_what_was_written() {
    use cfgupdate_core::promotion::{HeldBack, Hold};
    let announcement = Announcement::new(
        commit(9),
        images(&[("api", &api_image()), ("web", &api_image())]),
    )
    .unwrap();
    let web = ServiceName::parse("web").unwrap();
    let held = Err(PublishError::OnHold(HeldBack {
        wave: wave("staging"),
        held: vec![(
            web.clone(),
            Hold::Rollback {
                to_revision: commit(2),
                at: 0,
            },
        )],
    }));
    let event = outcomes::of_publish(&announcement, &held, at()).expect("an event");
    assert_eq!(event.kind.name(), "held");
    let written = Ok(PublishOutcome::Committed {
        commit: commit(3),
        wave: wave("staging"),
        skipped: vec![web],
    });
    let event = outcomes::of_publish(&announcement, &written, at()).expect("an event");
    assert_eq!(event.kind.name(), "published");
    assert_eq!(
        event
            .images
            .keys()
            .map(ServiceName::as_str)
            .collect::<Vec<_>>(),
        ["api"]
    );
}
