//! Notifications (docs/notifications.md): each event the service sees (a publish, a promotion,
//! a refusal, ...) is POSTed to every webhook of `CFGUPDATE_NOTIFY_URLS` as JSON, signed with
//! Standard Webhooks headers when `CFGUPDATE_NOTIFY_SECRET` is set, and to
//! `CFGUPDATE_SLACK_WEBHOOK_URL` as a Slack message.
//!
//! - `outcomes` turns the core's answers into [`Event`]s (the core decided what happened);
//! - the writer hands each event to the `Notifier`, which puts it on every sink's bounded
//!   queue without waiting (a full queue drops it and counts the drop), so notifications never
//!   delay or fail the pipeline;
//! - one worker per sink, on the service's runtime, delivers its queue in order through the
//!   [`Sender`] port ([`HttpSender`] in the service), retrying with jittered exponential
//!   backoff, and counts deliveries, failures and drops per sink kind in `/metrics`
//!   ([`NotifyMetrics`]).
//!
//! The same event (kind, wave, commit, images, target and reason) is sent once within
//! [`REPEAT_WINDOW`]: several reports answered by one promotion, a refusal met again by
//! every pass of the timer.
//!
//! Webhook URLs and the Slack URL are secrets: they are shown only as scheme, host and port
//! ([`Endpoint`]), in the log and in every error.

mod config;
mod deliver;
mod endpoint;
mod event;
mod http;
mod metrics;
pub(crate) mod outcomes;
mod sender;
mod slack;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use cfgupdate_core::promotion::{
    ApprovalOutcome, DeployReport, DeploymentOutcome, HoldError, PromotionError, RollbackOutcome,
};
use cfgupdate_core::strict::{CheckOutcome, Eviction, StrictError};
use cfgupdate_core::{Announcement, Clock, ConfigRepository, Due, PublishError, PublishOutcome};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use config::{
    NOTIFY_CA_FILE_VAR, NOTIFY_SECRET_VAR, NOTIFY_URLS_VAR, NotifyConfigError, NotifySettings,
    SLACK_WEBHOOK_URL_VAR, load,
};
pub use endpoint::{Endpoint, EndpointError, SinkKind};
pub use event::{Event, EventKind};
pub use http::{HttpSender, TlsSetupError};
pub use metrics::NotifyMetrics;
pub use sender::{Outgoing, SendError, Sender};
pub use slack::{slack_body, slack_text};

use deliver::{Delivery, Sink};
use outcomes::RepositoryFacts;

/// The same event is sent once within this window.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(60 * 60);

/// The most events remembered for [`REPEAT_WINDOW`].
const REMEMBERED: usize = 1024;

/// Where the writer hands its events: every sink's queue. Cloning shares the queues; a
/// notifier without sinks does nothing (and reads nothing for its events).
#[derive(Clone, Default)]
pub(crate) struct Notifier {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queues: Mutex<Vec<(SinkKind, mpsc::Sender<Arc<Event>>)>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    clock: Arc<dyn Clock + Send + Sync>,
    metrics: NotifyMetrics,
    recent: Mutex<Recent>,
}

/// The events sent lately, by their key, with when.
#[derive(Default)]
struct Recent {
    at: HashMap<String, SystemTime>,
    order: VecDeque<String>,
}

impl Recent {
    /// Whether `key` is new within the window at `now`; remembers it.
    fn first(&mut self, key: String, now: SystemTime) -> bool {
        if let Some(seen) = self.at.get(&key)
            && now.duration_since(*seen).unwrap_or_default() < REPEAT_WINDOW
        {
            return false;
        }
        self.at.insert(key.clone(), now);
        self.order.push_back(key);
        while self.order.len() > REMEMBERED {
            if let Some(oldest) = self.order.pop_front()
                && !self.order.contains(&oldest)
            {
                self.at.remove(&oldest);
            }
        }
        true
    }
}

/// What makes two events the same: everything but the time (the images too: announcements
/// written together share one commit and are each their own event).
fn key_of(event: &Event) -> String {
    format!(
        "{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
        event.kind.name(),
        event.wave.as_ref().map(|w| w.as_str()),
        event.commit.as_ref().map(|c| c.as_str()),
        event.target,
        event.reason,
        event.images
    )
}

impl Notifier {
    /// Starts one worker per sink of `settings` on the current tokio runtime; a notifier that
    /// does nothing when no sink is configured.
    pub(crate) fn start(
        settings: &NotifySettings,
        sender: Arc<dyn Sender>,
        clock: Arc<dyn Clock + Send + Sync>,
        metrics: NotifyMetrics,
    ) -> io::Result<Self> {
        if !settings.is_enabled() {
            return Ok(Self::default());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other("notifications need the service to be started inside a tokio runtime")
        })?;
        let delivery = Arc::new(Delivery {
            sender,
            clock: clock.clone(),
            metrics: metrics.clone(),
            retry: settings.retry,
        });
        let sinks = settings
            .webhooks
            .iter()
            .map(|endpoint| Sink {
                kind: SinkKind::Webhook,
                endpoint: endpoint.clone(),
                secret: settings.secret.clone(),
            })
            .chain(settings.slack.iter().map(|endpoint| Sink {
                kind: SinkKind::Slack,
                endpoint: endpoint.clone(),
                secret: None,
            }));
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for sink in sinks {
            metrics.configured(sink.kind);
            info!(sink = sink.kind.label(), endpoint = %sink.endpoint, signed = sink.secret.is_some(), "notifications go to this sink");
            let (queue, events) = mpsc::channel(settings.queue_capacity.max(1));
            queues.push((sink.kind, queue));
            workers.push(runtime.spawn(deliver::work(sink, events, delivery.clone())));
        }
        Ok(Self {
            inner: Some(Arc::new(Inner {
                queues: Mutex::new(queues),
                workers: Mutex::new(workers),
                clock,
                metrics,
                recent: Mutex::new(Recent::default()),
            })),
        })
    }

    /// Queues `event` for every sink, without waiting: a sink whose queue is full loses it
    /// (counted as `dropped`). The same event within [`REPEAT_WINDOW`] is sent once.
    pub(crate) fn emit(&self, event: Event) {
        let Some(inner) = &self.inner else { return };
        let first = inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first(key_of(&event), event.at);
        if !first {
            return;
        }
        let event = Arc::new(event);
        let queues = inner.queues.lock().unwrap_or_else(PoisonError::into_inner);
        for (kind, queue) in queues.iter() {
            match queue.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                    inner.metrics.notification(*kind, "dropped");
                    warn!(
                        sink = kind.label(),
                        event = event.kind.name(),
                        "the sink's notification queue is full: event dropped"
                    );
                }
            }
        }
    }

    fn now(&self) -> Option<SystemTime> {
        self.inner.as_ref().map(|inner| inner.clock.now())
    }

    /// A publish's event.
    pub(crate) fn published(
        &self,
        announcement: &Announcement,
        result: &Result<PublishOutcome, PublishError>,
    ) {
        if let Some(at) = self.now() {
            outcomes::of_publish(announcement, result, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// A deploy report's events.
    pub(crate) fn deployment(
        &self,
        repo: &dyn ConfigRepository,
        report: &DeployReport,
        result: &Result<DeploymentOutcome, PromotionError>,
    ) {
        if let Some(at) = self.now() {
            outcomes::of_deployment(&RepositoryFacts(repo), report, result, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// An approval's event.
    pub(crate) fn approval(
        &self,
        repo: &dyn ConfigRepository,
        result: &Result<ApprovalOutcome, PromotionError>,
    ) {
        if let Some(at) = self.now() {
            outcomes::of_approval(&RepositoryFacts(repo), result, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// A rollback's event.
    pub(crate) fn rolled_back(
        &self,
        repo: &dyn ConfigRepository,
        result: &Result<RollbackOutcome, HoldError>,
    ) {
        if let Some(at) = self.now() {
            outcomes::of_rollback(&RepositoryFacts(repo), result, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// A strict mode CI result's events.
    pub(crate) fn checked(&self, result: &Result<CheckOutcome, StrictError>) {
        if let Some(at) = self.now() {
            outcomes::of_check(result, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// The `refused` events of the changes rebuilds of the auto branch dropped during the
    /// writer's fetches (each handed out once, to the process that recorded it).
    pub(crate) fn dropped(&self, dropped: &[Eviction]) {
        if dropped.is_empty() {
            return;
        }
        if let Some(at) = self.now() {
            outcomes::of_dropped(dropped, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// The events of one of the writer's own passes (promotions, and what a freeze deferred).
    pub(crate) fn due(&self, repo: &dyn ConfigRepository, result: &Result<Due, PromotionError>) {
        if let Some(at) = self.now() {
            outcomes::of_due(&RepositoryFacts(repo), result, at)
                .into_iter()
                .for_each(|event| self.emit(event));
        }
    }

    /// Closes the queues and lets the workers deliver what is queued for up to `within`;
    /// what is left then is abandoned (and logged).
    pub(crate) async fn close(&self, within: Duration) {
        let Some(inner) = &self.inner else { return };
        inner
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let workers: Vec<JoinHandle<()>> =
            std::mem::take(&mut *inner.workers.lock().unwrap_or_else(PoisonError::into_inner));
        let aborts: Vec<_> = workers.iter().map(JoinHandle::abort_handle).collect();
        let all = async {
            for worker in workers {
                let _ = worker.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            warn!(
                seconds = within.as_secs(),
                "notifications still undelivered at shutdown were abandoned"
            );
            for abort in aborts {
                abort.abort();
            }
        }
    }
}
