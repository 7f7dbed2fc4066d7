//! Time, as the core sees it: read and waited for through a trait, so that tests and
//! simulations control it.

use std::time::{Duration, SystemTime};

/// The clock: what time it is, and waiting.
#[cfg_attr(test, mockall::automock)]
pub trait Clock {
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Waits for `duration` (a simulated clock may only advance).
    fn sleep(&self, duration: Duration);
}
