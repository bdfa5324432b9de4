//! [`PipeRetry`]: how a pipe retries a staged file it could not read — exponential backoff per
//! file, so one failing file waits on its own while the others load, and a limit after which
//! the file is recorded in the copy history as failed, with its error.

use std::time::Duration;

/// Retries of a file a pipe could not read (a failing GET, a broken connection).
///
/// ```
/// use std::time::Duration;
/// use snowdrift_warehouse::PipeRetry;
/// let retry = PipeRetry::default();
/// assert_eq!(retry.delay(1), Duration::from_millis(100));
/// assert_eq!(retry.delay(2), Duration::from_millis(200));
/// assert_eq!(retry.delay(30), Duration::from_secs(60)); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeRetry {
    /// The wait after the first failed attempt (default 100 ms); doubled after each further one.
    pub initial: Duration,
    /// The longest wait between two attempts (default one minute).
    pub max_delay: Duration,
    /// Attempts after which the file is recorded as `Load failed` (default 10).
    pub max_attempts: u32,
}

impl Default for PipeRetry {
    fn default() -> Self {
        PipeRetry {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(60),
            max_attempts: 10,
        }
    }
}

impl PipeRetry {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}
