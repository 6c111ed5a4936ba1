//! The application clock: system time plus an adjustable offset, so tests can move time
//! forward (session expiry, link expiry, schedules) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock shared by every clone of the app.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone) forward; for tests.
    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}
