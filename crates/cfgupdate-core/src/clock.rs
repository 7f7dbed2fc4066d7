//! Time, as the core sees it: read and waited for through a trait, so that tests and
//! simulations control it.

use std::time::{Duration, SystemTime};

/// The clock: what time it is, and waiting.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait Clock {
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Waits for `duration` (a simulated clock may only advance).
    fn sleep(&self, duration: Duration);
}

/// The machine's clock: [`SystemTime::now`], and waiting by blocking the calling thread.
///
/// This is the one place the core reads the system clock or sleeps: everything else in it
/// sees time only through a [`Clock`] it is handed, so that tests and simulations (with
/// `testing::ManualClock` behind the `testing` feature) decide what time it is. Programs
/// embedding the core hand it this one.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}
