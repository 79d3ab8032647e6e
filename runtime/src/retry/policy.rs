//! A validated retry policy: how many attempts, how long between them, and its counters.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::{Attempts, Next, RetryConfig, Verdict};
use crate::Classify;
use crate::config::ConfigError;
use crate::observe::{self, Event, Hub, InstanceKind, Tally};
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
    /// The settings in force. A call copies them at its first failure and keeps the copy.
    settings: Mutex<RetryConfig>,
    /// `max_elapsed` in nanoseconds (`u64::MAX`: none), read as each call starts.
    pub(super) max_elapsed: AtomicU64,
    /// The settings it was created with: other call sites naming it are checked against them.
    created: RetryConfig,
    pub(super) stats: RetryStats,
    pub(super) hub: Hub,
    /// Calls that succeeded at their first attempt, for metrics: counted per thread.
    first_successes: Tally,
}

#[derive(Debug, Default)]
pub(super) struct RetryStats {
    pub(super) registered: AtomicBool,
    pub(super) retries: AtomicU64,
    pub(super) exhausted: AtomicU64,
}

/// No `max_elapsed`.
pub(super) const UNBOUNDED: u64 = u64::MAX;

const fn elapsed_nanos(max_elapsed: Option<Duration>) -> u64 {
    match max_elapsed {
        // Saturating, and never the `UNBOUNDED` marker for a bound that was set.
        #[allow(clippy::cast_possible_truncation)]
        Some(max) if max.as_nanos() < UNBOUNDED as u128 => max.as_nanos() as u64,
        Some(_) => UNBOUNDED - 1,
        None => UNBOUNDED,
    }
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
        Self::new(RetryConfig {
            name,
            max_attempts,
            backoff,
            base,
            max_delay,
            max_elapsed,
            jitter,
            seed: None,
        })
    }

    /// A policy with validated settings.
    #[must_use]
    pub const fn new(config: RetryConfig) -> Self {
        Self {
            name: config.name,
            settings: Mutex::new(config),
            max_elapsed: AtomicU64::new(elapsed_nanos(config.max_elapsed)),
            created: config,
            stats: RetryStats {
                registered: AtomicBool::new(false),
                retries: AtomicU64::new(0),
                exhausted: AtomicU64::new(0),
            },
            hub: Hub::new(),
            first_successes: observe::first_successes(config.name),
        }
    }

    /// Counts a call that succeeded, after retries or without any.
    #[inline]
    pub(crate) fn succeeded(&self, retried: bool) {
        observe::retry_succeeded(&self.hub, &self.first_successes, self.name, retried);
    }

    /// Counts a call that failed, after retries or without any.
    pub(crate) fn failed(&self, retried: bool) {
        observe::retry_failed(&self.hub, self.name, retried);
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> RetryConfig {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The settings it was created with.
    pub(crate) fn created_config(&self) -> RetryConfig {
        self.created
    }

    /// Whether `config` can replace the settings in force: any of the same name can.
    pub(crate) fn fits(&self, config: &RetryConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)
    }

    /// The policy with `created` as the settings other call sites are checked against.
    pub(crate) fn created_as(mut self, created: RetryConfig) -> Self {
        self.created = created;
        self
    }

    /// Puts `config` in force from the next call on, and returns the settings it replaced. A
    /// call already retrying finishes with the settings it started retrying with: its deadline
    /// (`max_elapsed`) is fixed when it starts, the rest when it first fails.
    ///
    /// ```
    /// use staunch::Retry;
    ///
    /// let policy = Retry::exponential().name("docs-retuned").max_attempts(3).build().unwrap();
    /// let patient = Retry::exponential().name("docs-retuned").max_attempts(6).config().unwrap();
    /// let old = policy.reconfigure(patient).unwrap();
    /// assert_eq!((old.max_attempts(), policy.max_attempts()), (3, 6));
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name; nothing changes.
    pub fn reconfigure(&self, config: RetryConfig) -> Result<RetryConfig, ConfigError> {
        self.fits(&config)?;
        let old = {
            let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
            self.max_elapsed
                .store(elapsed_nanos(config.max_elapsed), Ordering::Relaxed);
            std::mem::replace(&mut *settings, config)
        };
        if config != old {
            observe::settings_changed(&self.hub, InstanceKind::Retry, self.name, &old, &config);
        }
        Ok(old)
    }

    /// The name shown in logs and in the registry snapshot.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Total attempts, the first included, in force.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.config().max_attempts
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
        // Loaded first: every call's first failure asks, and once is the rule.
        !self.stats.registered.load(Ordering::Relaxed)
            && !self.stats.registered.swap(true, Ordering::Relaxed)
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
