//! [`Clock`]: where the embedded engine reads the time it stamps merges with
//! (`update_timestamp`, version start and end times). The system clock by default; a fixed or
//! hand-driven clock makes runs reproducible (replays, differential tests against Snowflake
//! SQL). The engine never goes backwards: each stamp is at least 1 µs after the previous one.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// A source of the current time.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use snowdrift_warehouse::Clock;
///
/// let now = Arc::new(AtomicI64::new(1_700_000_000_000_000));
/// let source = now.clone();
/// let clock = Clock::from_fn(move || source.load(Ordering::SeqCst));
/// assert_eq!(clock.now_micros(), 1_700_000_000_000_000);
/// now.store(1_700_000_001_000_000, Ordering::SeqCst);
/// assert_eq!(clock.now_micros(), 1_700_000_001_000_000);
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(|| micros(SystemTime::now())))
    }

    /// A clock reading `now`, in µs since the Unix epoch (UTC).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time in µs since the Unix epoch.
    pub fn now_micros(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

fn micros(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
