//! Retry with backoff, jitter, Retry-After and an overall deadline.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{ConfigError, check};
use crate::failure::{AsRejected, Failure, lift};
use crate::{Classify, Rejected, RetryBudget, clock, registry};

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

/// A validated retry policy. Build one with [`Retry`]; `#[retry]` makes one per function.
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
    name: &'static str,
    max_attempts: u32,
    backoff: Backoff,
    base: Duration,
    max_delay: Duration,
    max_elapsed: Option<Duration>,
    jitter: Jitter,
    seed: Option<u64>,
    stats: RetryStats,
}

#[derive(Debug, Default)]
struct RetryStats {
    registered: AtomicBool,
    retries: AtomicU64,
    exhausted: AtomicU64,
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

    /// The delay before attempt `failures + 1`, before jitter, capped at `max_delay`.
    fn backoff(&self, failures: u32) -> Duration {
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

    fn register(&'static self) {
        if !self.stats.registered.swap(true, Ordering::Relaxed) {
            registry::global().add_retry(self);
        }
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

/// `base` when none is written (capped by a smaller `max_delay`).
const DEFAULT_BASE: Duration = Duration::from_millis(100);
/// `max_delay` when none is written (raised to a larger `base`).
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);

/// Builder of a [`RetryPolicy`]; every option of `#[retry]` has a method here.
#[derive(Debug, Clone)]
#[must_use]
pub struct Retry {
    name: &'static str,
    max_attempts: u32,
    backoff: Backoff,
    /// `None` until set: a default never makes a written value invalid.
    base: Option<Duration>,
    max_delay: Option<Duration>,
    max_elapsed: Option<Duration>,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Retry {
    fn with(backoff: Backoff) -> Self {
        Self {
            name: "retry",
            max_attempts: 3,
            backoff,
            base: None,
            max_delay: None,
            max_elapsed: None,
            jitter: Jitter::Full,
            seed: None,
        }
    }

    /// Exponential backoff with factor 2 (the default of `#[retry]`).
    pub fn exponential() -> Self {
        Self::with(Backoff::Exponential { factor: 2.0 })
    }

    /// The same delay before every retry.
    pub fn constant() -> Self {
        Self::with(Backoff::Constant)
    }

    /// A delay growing by `base` with each retry.
    pub fn linear() -> Self {
        Self::with(Backoff::Linear)
    }

    /// The name shown in logs.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Total attempts, the first included (default 3, at least 1).
    pub fn max_attempts(mut self, max: u32) -> Self {
        self.max_attempts = max;
        self
    }

    /// The first delay (default 100 ms, or `max_delay` when a smaller one is set).
    pub fn base(mut self, base: Duration) -> Self {
        self.base = Some(base);
        self
    }

    /// The growth factor of exponential backoff (default 2, at least 1).
    pub fn factor(mut self, factor: f64) -> Self {
        if let Backoff::Exponential { factor: f } = &mut self.backoff {
            *f = factor;
        } else {
            // Recorded so that `build` reports it instead of ignoring it.
            self.backoff = Backoff::Exponential { factor: f64::NAN };
        }
        self
    }

    /// The cap of one sleep, whatever the jitter, Retry-After included (default 10 s, or
    /// `base` when a larger one is set).
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = Some(max_delay);
        self
    }

    /// The cap of the whole call: no attempt starts that could not start before it.
    pub fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// How each delay is randomised (default [`Jitter::Full`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Makes jitter deterministic: every call draws from a generator seeded with `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for zero attempts, a factor below 1 (or given without exponential
    /// backoff), a zero `max_delay` or `max_elapsed`, or a `base` set above a `max_delay`
    /// set (a default never makes a set value invalid).
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        check(
            self.max_attempts >= 1,
            "max",
            "at least 1",
            self.max_attempts,
        )?;
        if let Backoff::Exponential { factor } = self.backoff {
            if factor.is_nan() {
                return Err(ConfigError::Requires {
                    option: "factor",
                    requires: "backoff = \"exp\"",
                });
            }
            check(
                factor.is_finite() && factor >= 1.0,
                "factor",
                "a finite number of at least 1",
                factor,
            )?;
        }
        if let Some(max_delay) = self.max_delay {
            check(!max_delay.is_zero(), "max_delay", "above zero", max_delay)?;
        }
        let (base, max_delay) = match (self.base, self.max_delay) {
            (Some(base), Some(max_delay)) if base > max_delay => {
                return Err(ConfigError::Exceeds {
                    option: "base",
                    limit: "max_delay",
                });
            }
            (Some(base), Some(max_delay)) => (base, max_delay),
            (Some(base), None) => (base, DEFAULT_MAX_DELAY.max(base)),
            (None, Some(max_delay)) => (DEFAULT_BASE.min(max_delay), max_delay),
            (None, None) => (DEFAULT_BASE, DEFAULT_MAX_DELAY),
        };
        if let Some(max_elapsed) = self.max_elapsed {
            check(
                !max_elapsed.is_zero(),
                "max_elapsed",
                "above zero",
                max_elapsed,
            )?;
        }
        let mut policy = RetryPolicy::__validated(
            self.name,
            self.max_attempts,
            self.backoff,
            base,
            max_delay,
            self.max_elapsed,
            self.jitter,
        );
        policy.seed = self.seed;
        Ok(policy)
    }
}

/// What retry should make of one failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// The error is worth another attempt.
    pub retry: bool,
    /// The dependency asked for at least this long a wait.
    pub after: Option<Duration>,
}

/// What to do after an attempt.
#[derive(Debug)]
pub enum Next<R> {
    /// Return this result.
    Done(R),
    /// Sleep this long, then attempt again.
    Wait(Duration),
}

/// The state of one retried call: how many attempts were made, the deadline, the jitter state.
///
/// Generated code drives it in a loop; all decisions live here so the expansion stays small.
#[derive(Debug)]
pub struct Attempts<'p> {
    policy: &'p RetryPolicy,
    made: u32,
    deadline: Option<u64>,
    /// The previous sleep (decorrelated jitter); `None` before the first, which grows from `base`.
    previous: Option<Duration>,
    rng: Option<SmallRng>,
    on_retry: Option<fn(&'p RetryPolicy)>,
    budget: Option<&'p RetryBudget>,
}

thread_local! {
    static THREAD_RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

/// Seeds the jitter of every unseeded retry on this thread, for deterministic tests.
///
/// On a current-thread runtime (`#[tokio::test]`) that is every retry of the test.
pub fn seed_thread_jitter(seed: u64) {
    THREAD_RNG.with(|rng| *rng.borrow_mut() = Some(SmallRng::seed_from_u64(seed)));
}

impl<'p> Attempts<'p> {
    /// The state of a call that has made no attempt yet.
    #[inline]
    #[must_use]
    pub fn new(policy: &'p RetryPolicy) -> Self {
        Self {
            policy,
            made: 0,
            deadline: policy
                .max_elapsed
                .map(|max| clock::now().saturating_add(clock::nanos(max))),
            previous: None,
            rng: None,
            on_retry: None,
            budget: None,
        }
    }

    /// Spends retries from `budget`, crediting it with this call's first attempt.
    #[must_use]
    pub fn with_budget(mut self, budget: &'p RetryBudget) -> Self {
        budget.deposit();
        self.budget = Some(budget);
        self
    }

    /// Takes in the outcome of an attempt and says whether to return it or to wait and retry.
    ///
    /// `verdict` judges the function's own errors; `describe` writes one for the log. A
    /// success is returned here, inlined into the caller; a failure is judged out of line.
    #[inline]
    pub fn next<T, E, R: AsRejected>(
        &mut self,
        outcome: Result<T, Failure<E, R>>,
        verdict: impl FnOnce(&E) -> Verdict,
        describe: impl Fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> Next<Result<T, Failure<E, R>>> {
        if outcome.is_ok() {
            return Next::Done(outcome);
        }
        self.judge(outcome, verdict, describe)
    }

    #[inline(never)]
    fn judge<T, E, R: AsRejected>(
        &mut self,
        outcome: Result<T, Failure<E, R>>,
        verdict: impl FnOnce(&E) -> Verdict,
        describe: impl Fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> Next<Result<T, Failure<E, R>>> {
        self.made += 1;
        let Err(failure) = &outcome else {
            return Next::Done(outcome);
        };
        let verdict = match failure {
            Failure::Error(e) => verdict(e),
            Failure::Rejected(r) => Verdict {
                retry: r.as_rejected().is_transient(),
                after: None,
            },
        };
        match self.decide(verdict, &Shown(failure, &describe)) {
            Decision::Wait(delay) => Next::Wait(delay),
            Decision::Return => Next::Done(outcome),
            // A stack whose rejections cannot be carried has no budget (the expansion widens
            // them where there is one), so the fallback to the last error is never taken.
            Decision::Reject(rejected) => match R::from_rejected(rejected) {
                Some(rejected) => Next::Done(Err(Failure::Rejected(rejected))),
                None => Next::Done(outcome),
            },
        }
    }

    /// What to do after a failed attempt judged by `verdict`. Not generic, so compiled once
    /// rather than for every retried function.
    fn decide(&mut self, verdict: Verdict, error: &dyn fmt::Display) -> Decision {
        if !verdict.retry {
            return Decision::Return;
        }
        let Some(delay) = self.delay(verdict.after) else {
            self.policy.stats.exhausted.fetch_add(1, Ordering::Relaxed);
            return Decision::Return;
        };
        if let Some(budget) = self.budget
            && !budget.try_withdraw()
        {
            let config = budget.config();
            tracing::warn!(
                target: "staunch",
                function = self.policy.name,
                budget = config.name(),
                attempt = self.made,
                rejects = config.rejects_when_exhausted(),
                "retry budget spent; no more retries"
            );
            return if config.rejects_when_exhausted() {
                Decision::Reject(Rejected::BudgetExhausted {
                    name: config.name(),
                })
            } else {
                Decision::Return
            };
        }
        self.policy.stats.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(on_retry) = self.on_retry {
            on_retry(self.policy);
        }
        tracing::warn!(
            target: "staunch",
            function = self.policy.name,
            attempt = self.made,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "retrying after a failed attempt"
        );
        Decision::Wait(delay)
    }

    /// The sleep before the next attempt, or `None` when no attempt may start.
    fn delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let policy = self.policy;
        if self.made >= policy.max_attempts {
            return None;
        }
        let mut delay = match policy.jitter {
            Jitter::None => policy.backoff(self.made),
            Jitter::Full => self.uniform(Duration::ZERO, policy.backoff(self.made)),
            Jitter::Equal => {
                let half = policy.backoff(self.made) / 2;
                half + self.uniform(Duration::ZERO, half)
            }
            Jitter::Decorrelated => {
                let previous = self.previous.unwrap_or(policy.base);
                let high = previous.saturating_mul(3).min(policy.max_delay);
                let next = self.uniform(policy.base, high.max(policy.base));
                self.previous = Some(next);
                next
            }
        };
        // No sleep exceeds `max_delay`, whatever the jitter.
        delay = delay.min(policy.max_delay);
        if let Some(after) = retry_after {
            delay = delay.max(after.min(policy.max_delay));
        }
        // An attempt must start strictly before the deadline.
        if let Some(deadline) = self.deadline
            && clock::now().saturating_add(clock::nanos(delay)) >= deadline
        {
            return None;
        }
        Some(delay)
    }

    /// A uniform draw from `low..=high`.
    fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        let (low, high) = (clock::nanos(low), clock::nanos(high));
        if high <= low {
            return Duration::from_nanos(low);
        }
        let draw = match (&mut self.rng, self.policy.seed) {
            (Some(rng), _) => rng.random_range(low..=high),
            (rng @ None, Some(seed)) => rng
                .insert(SmallRng::seed_from_u64(seed))
                .random_range(low..=high),
            (None, None) => THREAD_RNG.with(|rng| {
                rng.borrow_mut()
                    .get_or_insert_with(|| SmallRng::from_rng(&mut rand::rng()))
                    .random_range(low..=high)
            }),
        };
        Duration::from_nanos(draw)
    }
}

impl Attempts<'static> {
    /// Like [`new`](Self::new), for a policy that appears in the registry once it retries.
    #[inline]
    #[must_use]
    pub fn registered(policy: &'static RetryPolicy) -> Self {
        let mut attempts = Self::new(policy);
        attempts.on_retry = Some(RetryPolicy::register);
        attempts
    }
}

/// What [`Attempts::decide`] concluded.
enum Decision {
    Wait(Duration),
    /// Return the attempt's outcome.
    Return,
    /// End the call with this rejection.
    Reject(Rejected),
}

/// Displays a failure for the retry log line.
struct Shown<'a, E, R, D>(&'a Failure<E, R>, &'a D);

impl<E, R: AsRejected, D: Fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display
    for Shown<'_, E, R, D>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Failure::Error(e) => (self.1)(e, f),
            Failure::Rejected(r) => fmt::Display::fmt(r.as_rejected(), f),
        }
    }
}
