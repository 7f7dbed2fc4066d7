//! A clock the simulation moves by hand; waiting (a retry's backoff) moves it too, so time only
//! ever goes forward and no test ever sleeps.

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use cfgupdate_core::Clock;

/// Simulated time.
#[derive(Debug)]
pub struct SimClock {
    now: Cell<SystemTime>,
}

impl SimClock {
    /// A clock at a fixed start, with sub-second digits so that retry jitter varies.
    pub fn new() -> Self {
        Self {
            now: Cell::new(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)),
        }
    }

    /// Time passes.
    pub fn pass(&self, duration: Duration) {
        self.now.set(self.now.get() + duration);
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        self.now.get()
    }

    fn sleep(&self, duration: Duration) {
        self.pass(duration);
    }
}
