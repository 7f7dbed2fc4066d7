//! One sink's worker: takes its queue's events in order and delivers each, retrying with
//! jittered exponential backoff ([`RetryPolicy`]), then counts how it ended. It runs on the
//! service's runtime and shares nothing with the writer but the queue, so a sink that is
//! down or never answers slows only itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use cfgupdate_core::{Clock, RetryPolicy};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::Receiver;
use tracing::{debug, warn};

use super::endpoint::{Endpoint, SinkKind};
use super::event::Event;
use super::metrics::NotifyMetrics;
use super::sender::{Outgoing, Sender};
use super::slack::slack_body;
use crate::auth::{WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER};
use crate::logged::logged;
use crate::settings::Secret;

/// A sink: where, in which format, signed with what.
pub(crate) struct Sink {
    pub(crate) kind: SinkKind,
    pub(crate) endpoint: Endpoint,
    /// The Standard Webhooks key (webhook sinks only).
    pub(crate) secret: Option<Secret>,
}

/// What every worker shares.
pub(crate) struct Delivery {
    pub(crate) sender: Arc<dyn Sender>,
    pub(crate) clock: Arc<dyn Clock + Send + Sync>,
    pub(crate) metrics: NotifyMetrics,
    pub(crate) retry: RetryPolicy,
}

/// Delivers `events` to `sink` until the queue is closed and empty.
pub(crate) async fn work(sink: Sink, mut events: Receiver<Arc<Event>>, delivery: Arc<Delivery>) {
    while let Some(event) = events.recv().await {
        deliver(&sink, &event, &delivery).await;
    }
}

/// A delivery id, the same for every attempt of one delivery (Standard Webhooks' `webhook-id`,
/// which receivers use to recognise a repeat): unique within the process by a counter, and
/// across processes by the time and process id it is hashed with.
fn delivery_id(now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hash = Sha256::new();
    hash.update(std::process::id().to_le_bytes());
    hash.update(
        now.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes(),
    );
    hash.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    format!("msg_{}", hex::encode(&hash.finalize()[..16]))
}

async fn deliver(sink: &Sink, event: &Event, delivery: &Delivery) {
    let body = Bytes::from(match sink.kind {
        SinkKind::Webhook => event.json(),
        SinkKind::Slack => slack_body(event),
    });
    let id = delivery_id(delivery.clock.now());
    let attempts = delivery.retry.attempts.max(1);
    for attempt in 1..=attempts {
        let mut headers = Vec::new();
        if sink.kind == SinkKind::Webhook {
            // Signed at each attempt: receivers refuse a timestamp more than minutes old.
            let timestamp = delivery
                .clock
                .now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            headers.push((WEBHOOK_ID_HEADER, id.clone()));
            headers.push((WEBHOOK_TIMESTAMP_HEADER, timestamp.to_string()));
            if let Some(secret) = &sink.secret {
                headers.push((
                    WEBHOOK_SIGNATURE_HEADER,
                    crate::auth::sign_webhook(secret.expose_bytes(), &id, timestamp, &body),
                ));
            }
        }
        let request = Outgoing {
            headers,
            body: body.clone(),
        };
        let result = delivery.sender.send(&sink.endpoint, &request).await;
        delivery.metrics.attempt(sink.kind, result.is_ok());
        let error = match result {
            Ok(()) => {
                delivery.metrics.notification(sink.kind, "delivered");
                debug!(
                    sink = sink.kind.label(),
                    event = event.kind.name(),
                    attempt,
                    "notification delivered"
                );
                return;
            }
            Err(error) => error,
        };
        let said = logged(&error.to_string());
        if attempt == attempts || !error.is_retryable() {
            delivery.metrics.notification(sink.kind, "failed");
            warn!(sink = sink.kind.label(), event = event.kind.name(), attempts = attempt, error = %said, "notification not delivered; given up");
            return;
        }
        let wait = delivery.retry.delay(attempt, delivery.clock.now());
        debug!(sink = sink.kind.label(), event = event.kind.name(), attempt, error = %said, wait_ms = wait.as_millis() as u64, "notification attempt failed; trying again");
        tokio::time::sleep(wait).await;
    }
}
