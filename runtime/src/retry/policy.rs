//! A validated retry policy: how many attempts, how long between them, and its counters.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Attempts, Next, Verdict};
use crate::Classify;
use crate::observe::{Event, Hub};
use crate::outcome::{Failure, lift};

/// How the delay grows between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// `base · factor^(n-1)` before attempt `n + 1`.
    Exponential {
        /// The growth factor, at least 1.
        factor: f64,
    },
    /// `base` every time.
    Constant,
    /// `base · n` before attempt `n + 1`.
    Linear,
}

/// Randomisation of each delay `d`, as defined by AWS ("Exponential Backoff And Jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// `U(0, d)`: spreads callers the most.
    Full,
    /// `d/2 + U(0, d/2)`: never less than half the delay.
    Equal,
    /// `min(max_delay, U(base, previous · 3))`: grows from the previous sleep.
    Decorrelated,
    /// Exactly `d`.
    None,
}

/// A validated retry policy. Build one with [`Retry`](crate::Retry); `#[retry]` makes one per function.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use staunch::{Jitter, Retry};
///
/// let policy = Retry::exponential()
///     .max_attempts(4)
///     .base(Duration::from_millis(50))
///     .jitter(Jitter::Full)
///     .build()
///     .unwrap();
///
/// let mut calls = 0;
/// let result: Result<u32, std::io::Error> = policy
///     .call(|| {
///         calls += 1;
///         let n = calls;
///         async move { if n < 3 { Err(std::io::Error::other("flaky")) } else { Ok(n) } }
///     })
///     .await;
/// assert_eq!(result.unwrap(), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct RetryPolicy {
    pub(super) name: &'static str,
    pub(super) max_attempts: u32,
    pub(super) backoff: Backoff,
    pub(super) base: Duration,
    pub(super) max_delay: Duration,
    pub(super) max_elapsed: Option<Duration>,
    pub(super) jitter: Jitter,
    pub(super) seed: Option<u64>,
    pub(super) stats: RetryStats,
    pub(super) hub: Hub,
}

#[derive(Debug, Default)]
pub(super) struct RetryStats {
    pub(super) registered: AtomicBool,
    pub(super) retries: AtomicU64,
    pub(super) exhausted: AtomicU64,
}

impl RetryPolicy {
    /// A policy from values the `#[retry]` macro already validated at compile time.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub const fn __validated(
        name: &'static str,
        max_attempts: u32,
        backoff: Backoff,
        base: Duration,
        max_delay: Duration,
        max_elapsed: Option<Duration>,
        jitter: Jitter,
    ) -> Self {
        Self {
            name,
            max_attempts,
            backoff,
            base,
            max_delay,
            max_elapsed,
            jitter,
            seed: None,
            stats: RetryStats {
                registered: AtomicBool::new(false),
                retries: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
            },
            hub: Hub::new(),
        }
    }

    /// The name shown in logs and in the registry snapshot.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Total attempts, the first included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// A receiver of every [`Event`] of this policy from now on: each retry scheduled, with
    /// its attempt, pause and error.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    /// Retries made so far, and calls that ended with every attempt used.
    #[must_use]
    pub fn metrics(&self) -> RetryMetrics {
        RetryMetrics {
            retries: self.stats.retries.load(Ordering::Relaxed),
            exhausted: self.stats.exhausted.load(Ordering::Relaxed),
        }
    }

    /// Calls `f` until it succeeds, retrying every error.
    ///
    /// # Errors
    /// The last attempt's error when no attempt succeeded.
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(f, |_| true).await
    }

    /// Calls `f` until it succeeds, retrying errors that `is_transient` accepts.
    ///
    /// # Errors
    /// The first error `is_transient` refuses, or the last attempt's error.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        mut f: F,
        is_transient: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempts = Attempts::new(self);
        loop {
            let outcome = lift(f().await);
            let verdict = |e: &E| Verdict {
                retry: is_transient(e),
                after: None,
            };
            match attempts.next(outcome, verdict, |_, f| f.write_str("error")) {
                Next::Done(result) => {
                    break result.map_err(|failure| match failure {
                        Failure::Error(e) => e,
                        Failure::Rejected(never) => match never {},
                    });
                }
                Next::Wait(delay) => tokio::time::sleep(delay).await,
            }
        }
    }

    /// Like [`call_with`](Self::call_with), classifying errors by their [`Classify`] impl,
    /// Retry-After included.
    ///
    /// # Errors
    /// The first permanent error, or the last attempt's error.
    pub async fn call_classified<T, E, F, Fut>(&self, mut f: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify + fmt::Debug,
    {
        let mut attempts = Attempts::new(self);
        loop {
            let outcome = lift(f().await);
            let verdict = |e: &E| Verdict {
                retry: e.is_transient(),
                after: e.retry_after(),
            };
            match attempts.next(outcome, verdict, |e, f| fmt::Debug::fmt(e, f)) {
                Next::Done(result) => {
                    break result.map_err(|failure| match failure {
                        Failure::Error(e) => e,
                        Failure::Rejected(never) => match never {},
                    });
                }
                Next::Wait(delay) => tokio::time::sleep(delay).await,
            }
        }
    }

    /// Marks the policy registered; true the first time.
    pub(crate) fn first_registration(&self) -> bool {
        !self.stats.registered.swap(true, Ordering::Relaxed)
    }

    /// The delay before attempt `failures + 1`, before jitter, capped at `max_delay`.
    pub(super) fn backoff(&self, failures: u32) -> Duration {
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

/// Counters of one retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RetryMetrics {
    /// Attempts after the first, over all calls.
    pub retries: u64,
    /// Calls that failed with every attempt, or the whole `max_elapsed`, used up.
    pub exhausted: u64,
}
