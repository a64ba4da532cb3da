//! Running a whole unit of work again after an error that says it may succeed next time.
//!
//! ```no_run
//! use embedstore::{NewEmbedding, RetryPolicy, Store, WorkOptions};
//! # fn main() -> embedstore::Result<()> {
//! # let store = Store::from_env()?;
//! # let docs = store.read(|uow| uow.collections().get("docs"))?;
//! let policy = RetryPolicy::default(); // 5 attempts, 50 ms doubling to at most 2 s, jittered
//! let options = WorkOptions::write().retry(policy);
//! let summary = store.run(&options, |uow| {
//!     uow.embeddings().upsert(&docs, vec![NewEmbedding::new("doc-1", vec![0.1; 384])])
//! })?;
//! # Ok(()) }
//! ```
//!
//! What is retried is [`Error::is_retryable`]: serialization failures, connections lost or
//! closed by the server, and no pooled connection within the connect timeout. Everything else
//! (validation, conflicts, a missing collection, SQL errors) returns at once: running it again
//! would fail the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled after every failure.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): exponential, capped, with "full
    /// jitter" (a random share of it), so that writers that failed together do not retry in
    /// lock-step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        ceiling.mul_f64(0.5 + 0.5 * jitter())
    }

    /// Runs `op` until it succeeds, fails with an error `retryable` rejects, or the attempts
    /// are spent; waits [`RetryPolicy::backoff`] between attempts. `op` gets the attempt number.
    ///
    /// # Errors
    /// The last error.
    pub fn run<T, E>(
        &self,
        mut op: impl FnMut(u32) -> std::result::Result<T, E>,
        retryable: impl Fn(&E) -> bool,
    ) -> std::result::Result<T, E> {
        let mut attempt = 1;
        loop {
            match op(attempt) {
                Ok(value) => return Ok(value),
                Err(error) if attempt < self.max_attempts.max(1) && retryable(&error) => {
                    std::thread::sleep(self.backoff(attempt));
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// A number in [0, 1) that differs between calls and threads; jitter needs no more.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(nanos);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.backoff(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            assert!(policy.backoff(30) <= Duration::from_millis(500));
        }
    }

    #[test]
    fn only_retryable_errors_are_retried_and_attempts_are_bounded() {
        let policy = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let outcome: std::result::Result<(), &str> = policy.run(
            |_| {
                calls += 1;
                Err("transient")
            },
            |_| true,
        );
        assert_eq!((outcome, calls), (Err("transient"), 4));
        let mut calls = 0;
        let outcome: std::result::Result<(), &str> = policy.run(
            |_| {
                calls += 1;
                Err("permanent")
            },
            |_| false,
        );
        assert_eq!((outcome, calls), (Err("permanent"), 1));
        let outcome = policy.run(
            |attempt| {
                if attempt < 3 {
                    Err("again")
                } else {
                    Ok(attempt)
                }
            },
            |_| true,
        );
        assert_eq!(outcome, Ok(3));
    }
}
