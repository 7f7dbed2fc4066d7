//! How often and how patiently a rejected push is tried again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bounded retries with exponential, jittered backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many pushes in all before giving up.
    pub attempts: u32,
    /// The delay before the first retry (before jitter).
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 10,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `retry`-th rejection (1-based): doubling from `first_delay` up to
    /// `max_delay`, then scaled by a factor in [0.5, 1.5) so that writers that collided do
    /// not collide again in step. The factor is drawn from `now`'s sub-second digits: the
    /// core has no other source of chance, and needs none better.
    pub fn delay(&self, retry: u32, now: SystemTime) -> Duration {
        let exponent = retry.saturating_sub(1).min(16);
        let base = self
            .first_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let nanos = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // A multiplicative hash spreads neighbouring instants over the whole range.
        let spread = (u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as u32; // 0..1024
        base.mul_f64(0.5 + f64::from(spread) / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_stay_within_the_jitter_band() {
        let policy = RetryPolicy {
            attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
        };
        for nanos in [0, 1, 999, 123_456_789, 999_999_999] {
            let now = UNIX_EPOCH + Duration::new(1_700_000_000, nanos);
            for (retry, base) in [(1, 100), (2, 200), (3, 400), (4, 800), (9, 800)] {
                let delay = policy.delay(retry, now);
                let base = Duration::from_millis(base);
                assert!(
                    delay >= base / 2 && delay < base * 3 / 2,
                    "{retry}: {delay:?}"
                );
            }
        }
    }

    #[test]
    fn neighbouring_instants_get_different_delays() {
        let policy = RetryPolicy::default();
        let delays: std::collections::BTreeSet<_> = (0..50)
            .map(|i| policy.delay(3, UNIX_EPOCH + Duration::new(1_700_000_000, i * 1000)))
            .collect();
        assert!(delays.len() > 25, "only {} distinct delays", delays.len());
    }
}
