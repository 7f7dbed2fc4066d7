//! What `/metrics` shows, in the Prometheus text format (version 0.0.4):
//!
//! | metric | what it counts |
//! |---|---|
//! | `cfgupdate_http_requests_total{endpoint, code}` | answered requests |
//! | `cfgupdate_commits_total{action}` | automatic commits pushed to the branch (`publish`, `promote`, `approve`) |
//! | `cfgupdate_pushes_total{git_ref, outcome}` | pushes to the branch or the state ref: `pushed`, `rejected` or `error` |
//! | `cfgupdate_push_retries_total{git_ref}` | pushes rejected because the remote had moved on, each answered by a fetch and a retry |
//! | `cfgupdate_fetches_total` | fetches from the remote (`/v1/status` is served from a snapshot, so reads do not fetch each) |
//! | `cfgupdate_connections_at_cap_total{outcome}` | new connections at the connection cap: `made_room` (the oldest idle connection was closed for it) or `waited` (every connection was busy) |
//! | `cfgupdate_remote_errors_total` | fetches and pushes that failed (remote unavailable and other errors) |
//! | `cfgupdate_group_commit_announcements` | announcements handled together per group commit |
//! | `cfgupdate_report_batch_reports` | deploy reports recorded together per state update |
//! | `cfgupdate_announcement_to_commit_seconds` | from an announcement's arrival to its commit on the remote |
//! | `cfgupdate_report_to_promotion_seconds{wave}` | from the deploy report that completed a wave to the promotion into `wave` on the remote (soak and approval waits included) |
//! | `cfgupdate_advances_total{outcome}` | the writer's own passes over the pipeline (`ok`, `error`) |
//! | `cfgupdate_notifications_total{sink, outcome}` | notifications per sink kind (`webhook`, `slack`): `delivered`, `failed` (after the last attempt), `dropped` (its queue was full) |
//! | `cfgupdate_notification_attempts_total{sink, outcome}` | notification delivery attempts, retries included: `ok`, `error` |

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PushLabels {
    git_ref: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefLabels {
    git_ref: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WaveLabels {
    wave: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Which ref a push went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushRef {
    /// The branch Argo CD watches.
    Branch,
    /// The pipeline state beside it.
    State,
}

impl PushRef {
    fn label(self) -> &'static str {
        match self {
            PushRef::Branch => "branch",
            PushRef::State => "state",
        }
    }
}

fn latency_buckets() -> Histogram {
    // 10 ms to about 41 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

fn promotion_buckets() -> Histogram {
    // 50 ms to about 58 hours: a soak or an approval may take that long.
    Histogram::new(exponential_buckets(0.05, 4.0, 12))
}

/// The service's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    commits: Family<ActionLabels, Counter>,
    pushes: Family<PushLabels, Counter>,
    retries: Family<RefLabels, Counter>,
    remote_errors: Counter,
    fetches: Counter,
    at_cap: Family<OutcomeLabels, Counter>,
    group_size: Histogram,
    report_batch: Histogram,
    announcement_to_commit: Histogram,
    report_to_promotion: Family<WaveLabels, Histogram, fn() -> Histogram>,
    advances: Family<OutcomeLabels, Counter>,
    /// The notification counters (docs/notifications.md).
    pub(crate) notifications: crate::notify::NotifyMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cfgupdate");
        let requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by endpoint and status code",
            requests.clone(),
        );
        let commits = Family::default();
        registry.register(
            "commits",
            "Automatic commits pushed to the branch, by Cfgupdate-Action",
            commits.clone(),
        );
        let pushes = Family::default();
        registry.register(
            "pushes",
            "Pushes to the branch or the state ref, by outcome",
            pushes.clone(),
        );
        let retries = Family::default();
        registry.register(
            "push_retries",
            "Pushes rejected because the remote had moved on; each is followed by a fetch and a retry on the new tip",
            retries.clone(),
        );
        let remote_errors = Counter::default();
        registry.register(
            "remote_errors",
            "Fetches and pushes that failed",
            remote_errors.clone(),
        );
        let fetches = Counter::default();
        registry.register("fetches", "Fetches from the remote", fetches.clone());
        let at_cap = Family::default();
        registry.register(
            "connections_at_cap",
            "New connections at the connection cap: made_room (the oldest idle one was closed) or waited",
            at_cap.clone(),
        );
        let group_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        registry.register(
            "group_commit_announcements",
            "Announcements handled together in one group commit",
            group_size.clone(),
        );
        let report_batch = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        registry.register(
            "report_batch_reports",
            "Deploy reports recorded together in one state update",
            report_batch.clone(),
        );
        let announcement_to_commit = latency_buckets();
        registry.register_with_unit(
            "announcement_to_commit",
            "From an announcement's arrival to its commit on the remote",
            Unit::Seconds,
            announcement_to_commit.clone(),
        );
        let report_to_promotion: Family<WaveLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(promotion_buckets);
        registry.register_with_unit(
            "report_to_promotion",
            "From the deploy report that completed a wave to the promotion into the next wave, by the wave promoted into",
            Unit::Seconds,
            report_to_promotion.clone(),
        );
        let advances = Family::default();
        registry.register(
            "advances",
            "The service's own passes over the pipeline (soak timers, reports of other replicas)",
            advances.clone(),
        );
        let notifications = crate::notify::NotifyMetrics::register(&mut registry);
        Self {
            registry,
            requests,
            commits,
            pushes,
            retries,
            remote_errors,
            fetches,
            at_cap,
            group_size,
            report_batch,
            announcement_to_commit,
            report_to_promotion,
            advances,
            notifications,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }

    pub(crate) fn request(&self, endpoint: &str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_owned(),
                code,
            })
            .inc();
    }

    pub(crate) fn commit(&self, action: &str) {
        self.commits
            .get_or_create(&ActionLabels {
                action: action.to_owned(),
            })
            .inc();
    }

    pub(crate) fn push(&self, to: PushRef, outcome: &'static str) {
        self.pushes
            .get_or_create(&PushLabels {
                git_ref: to.label(),
                outcome,
            })
            .inc();
        if outcome == "rejected" {
            self.retries
                .get_or_create(&RefLabels {
                    git_ref: to.label(),
                })
                .inc();
        }
    }

    pub(crate) fn fetch(&self) {
        self.fetches.inc();
    }

    /// How many fetches from the remote were made since the service started.
    pub fn fetches(&self) -> u64 {
        self.fetches.get()
    }

    pub(crate) fn connection_closed_for_room(&self, made_room: bool) {
        let outcome = if made_room { "made_room" } else { "waited" };
        self.at_cap.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub(crate) fn remote_error(&self) {
        self.remote_errors.inc();
    }

    pub(crate) fn group_commit(&self, announcements: usize) {
        self.group_size.observe(announcements as f64);
    }

    pub(crate) fn report_batch(&self, reports: usize) {
        self.report_batch.observe(reports as f64);
    }

    pub(crate) fn announcement_committed(&self, latency: Duration) {
        self.announcement_to_commit.observe(latency.as_secs_f64());
    }

    pub(crate) fn promoted(&self, wave: &str, latency: Duration) {
        self.report_to_promotion
            .get_or_create(&WaveLabels {
                wave: wave.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    pub(crate) fn advance(&self, ok: bool) {
        self.advances
            .get_or_create(&OutcomeLabels {
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_text_format_under_their_names() {
        let metrics = Metrics::new();
        metrics.request("/v1/images", 200);
        metrics.request("/v1/images", 200);
        metrics.commit("publish");
        metrics.push(PushRef::Branch, "rejected");
        metrics.push(PushRef::Branch, "pushed");
        metrics.promoted("production", Duration::from_secs(3));
        let text = metrics.encode();
        for line in [
            "cfgupdate_http_requests_total{endpoint=\"/v1/images\",code=\"200\"} 2",
            "cfgupdate_commits_total{action=\"publish\"} 1",
            "cfgupdate_pushes_total{git_ref=\"branch\",outcome=\"rejected\"} 1",
            "cfgupdate_push_retries_total{git_ref=\"branch\"} 1",
            "cfgupdate_report_to_promotion_seconds_count{wave=\"production\"} 1",
            "# TYPE cfgupdate_announcement_to_commit_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
