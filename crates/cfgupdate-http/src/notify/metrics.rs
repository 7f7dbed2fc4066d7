//! The notification counters of `/metrics`, per sink kind (`webhook`, `slack`; never a URL).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::endpoint::SinkKind;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SinkLabels {
    sink: &'static str,
    outcome: &'static str,
}

/// `cfgupdate_notifications_total{sink, outcome}` (`delivered`, `failed` after the last
/// attempt, `dropped` because the sink's queue was full) and
/// `cfgupdate_notification_attempts_total{sink, outcome}` (`ok`, `error`: every try, retries
/// included).
#[derive(Debug, Clone, Default)]
pub struct NotifyMetrics {
    notifications: Family<SinkLabels, Counter>,
    attempts: Family<SinkLabels, Counter>,
}

impl NotifyMetrics {
    /// The counters, registered in `registry` (whose prefix is `cfgupdate`).
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "notifications",
            "Notifications by sink kind: delivered, failed (after the last attempt) or dropped (the sink's queue was full)",
            metrics.notifications.clone(),
        );
        registry.register(
            "notification_attempts",
            "Notification delivery attempts by sink kind, retries included: ok or error",
            metrics.attempts.clone(),
        );
        metrics
    }

    /// Shows every count of `sink` (at zero) from the start.
    pub(crate) fn configured(&self, sink: SinkKind) {
        for outcome in ["delivered", "failed", "dropped"] {
            let _ = self.notifications.get_or_create(&SinkLabels {
                sink: sink.label(),
                outcome,
            });
        }
        for outcome in ["ok", "error"] {
            let _ = self.attempts.get_or_create(&SinkLabels {
                sink: sink.label(),
                outcome,
            });
        }
    }

    pub(crate) fn notification(&self, sink: SinkKind, outcome: &'static str) {
        self.notifications
            .get_or_create(&SinkLabels {
                sink: sink.label(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn attempt(&self, sink: SinkKind, ok: bool) {
        self.attempts
            .get_or_create(&SinkLabels {
                sink: sink.label(),
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// How many notifications of `sink` ended with `outcome` (`delivered`, `failed`,
    /// `dropped`).
    pub fn count(&self, sink: SinkKind, outcome: &'static str) -> u64 {
        self.notifications
            .get_or_create(&SinkLabels {
                sink: sink.label(),
                outcome,
            })
            .get()
    }

    /// The attempts of `sink` so far: (taken, failed).
    #[cfg(test)]
    pub(crate) fn attempts_of(&self, sink: SinkKind) -> (u64, u64) {
        let count = |outcome| {
            self.attempts
                .get_or_create(&SinkLabels {
                    sink: sink.label(),
                    outcome,
                })
                .get()
        };
        (count("ok"), count("error"))
    }
}
