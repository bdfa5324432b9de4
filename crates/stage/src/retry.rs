//! [`RetryPolicy`]: exponential backoff with jitter around store operations, and the rule that
//! decides which store errors are worth retrying.

use std::error::Error as _;
use std::time::Duration;

/// How often and how patiently a failed store operation is retried.
///
/// HTTP stores (S3) also retry inside `object_store`; this policy wraps whole operations, so a
/// multipart upload that fails in any part is aborted and started again as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_backoff: Duration,
    /// Upper bound of any one delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 100 ms doubling to at most 5 s (about 20 s of patience in all).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay after failed attempt `attempt` (1-based), with up to 25 % jitter taken from
    /// `salt` so that writers do not retry in lock-step.
    pub fn backoff(&self, attempt: u32, salt: u64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        let base = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let jitter_permille = (salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) % 250;
        base + base.mul_f64(jitter_permille as f64 / 1000.0)
    }
}

/// Whether a store error may go away on its own (network, server, throttling) rather than being
/// a fault of the request (bad path, missing permission, a file where a folder should be).
pub fn is_transient(error: &object_store::Error) -> bool {
    use object_store::Error as E;
    match error {
        E::Generic { .. } | E::JoinError { .. } => !caused_by_permanent_io(error),
        E::NotFound { .. } => false,
        _ => false,
    }
}

fn caused_by_permanent_io(error: &object_store::Error) -> bool {
    use std::io::ErrorKind as K;
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                K::PermissionDenied
                    | K::NotADirectory
                    | K::IsADirectory
                    | K::ReadOnlyFilesystem
                    | K::InvalidInput
                    | K::InvalidFilename
                    | K::AlreadyExists
            );
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let policy = RetryPolicy::default();
        for salt in [0, 1, 99, u64::MAX] {
            let first = policy.backoff(1, salt);
            assert!(first >= Duration::from_millis(100) && first < Duration::from_millis(125));
            let third = policy.backoff(3, salt);
            assert!(third >= Duration::from_millis(400) && third < Duration::from_millis(500));
            let late = policy.backoff(30, salt);
            assert!(late >= Duration::from_secs(5) && late < Duration::from_millis(6250));
        }
    }

    #[test]
    fn io_faults_of_the_request_are_permanent_and_others_transient() {
        let wrap = |kind| object_store::Error::Generic {
            store: "test",
            source: Box::new(std::io::Error::new(kind, "x")),
        };
        assert!(!is_transient(&wrap(std::io::ErrorKind::NotADirectory)));
        assert!(!is_transient(&wrap(std::io::ErrorKind::PermissionDenied)));
        assert!(is_transient(&wrap(std::io::ErrorKind::ConnectionReset)));
        assert!(is_transient(&wrap(std::io::ErrorKind::TimedOut)));
    }
}
