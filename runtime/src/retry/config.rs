//! A retry policy's settings: what `Retry` validates, what a policy holds in force, and what a
//! call copies at its first failure and keeps to its end (its deadline, from `max_elapsed`,
//! is fixed when it starts).

use std::time::Duration;

use super::{Backoff, Jitter};

/// The validated settings of a retry policy: [`Retry::config`](crate::Retry::config) makes
/// them, [`RetryPolicy::reconfigure`](crate::RetryPolicy::reconfigure) puts them in force.
///
/// ```
/// use std::time::Duration;
/// use staunch::Retry;
///
/// let config = Retry::constant().max_attempts(5).base(Duration::from_millis(20)).config().unwrap();
/// assert_eq!((config.max_attempts(), config.base()), (5, Duration::from_millis(20)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    pub(super) name: &'static str,
    pub(super) max_attempts: u32,
    pub(super) backoff: Backoff,
    pub(super) base: Duration,
    pub(super) max_delay: Duration,
    pub(super) max_elapsed: Option<Duration>,
    pub(super) jitter: Jitter,
    pub(super) seed: Option<u64>,
}

impl RetryConfig {
    /// The policy's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Total attempts, the first included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How the delay grows between attempts.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The first delay.
    #[must_use]
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The longest delay.
    #[must_use]
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The longest a call may take, all its attempts and pauses together.
    #[must_use]
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The randomisation of each delay.
    #[must_use]
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The seed of its jitter, if it draws deterministically.
    pub(crate) fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The delay before attempt `failures + 1`, before jitter, capped at `max_delay`.
    pub(super) fn delay_before(&self, failures: u32) -> Duration {
        let base = self.base.as_secs_f64();
        let raw = match self.backoff {
            Backoff::Exponential { factor } => {
                base * factor.powi(i32::try_from(failures - 1).unwrap_or(i32::MAX))
            }
            Backoff::Constant => base,
            Backoff::Linear => base * f64::from(failures),
        };
        // `min` also turns an overflowing `inf` into the cap; validation ruled out NaN.
        Duration::try_from_secs_f64(raw.min(self.max_delay.as_secs_f64())).unwrap_or(self.max_delay)
    }
}
