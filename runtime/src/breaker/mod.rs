//! The circuit breaker: stops calling a dependency that keeps failing.
//!
//! CLOSED admits every call with one atomic load and, on success, writes nothing shared
//! (consecutive policy), so threads sharing a healthy breaker never contend. The clock is read
//! only while OPEN and to time calls when slow calls are tracked.

mod window;
mod word;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::broadcast;

use self::window::{FAILED, MAX_WINDOW, RECORDED, SLOW, Window};
use self::word::Word;
use crate::config::{ConfigError, check};
use crate::failure::{Failure, finish, lift, widen};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::{Classify, Rejected, clock};

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until `reset` has passed.
    Open,
    /// A few trial calls decide between closing and opening again.
    HalfOpen,
    /// Held open by [`CircuitBreaker::force_open`] until [`CircuitBreaker::force_closed`]
    /// or [`CircuitBreaker::reset`]: calls are rejected, and no trial is admitted.
    ForcedOpen,
}

/// When a CLOSED breaker opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// After `fail_max` failures in a row.
    Consecutive {
        /// Failures in a row that open the breaker.
        fail_max: u32,
    },
    /// When at least `failure_rate` % of the last `window` calls failed, once `min_calls`
    /// calls are recorded.
    FailureRate {
        /// Calls in the sliding window.
        window: u32,
        /// Percentage of failures (1..=100) that opens the breaker.
        failure_rate: u8,
        /// Calls recorded before the rate is judged.
        min_calls: u32,
    },
}

/// Slow calls: a call lasting longer than `after` is slow; `rate` % slow calls open the
/// breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowCalls {
    /// A call lasting longer than this is slow (one of exactly `after` is not).
    pub after: Duration,
    /// Percentage of slow calls (1..=100) that opens the breaker.
    pub rate: u8,
}

/// The validated settings of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    name: &'static str,
    trip: Trip,
    slow: Option<SlowCalls>,
    reset: Duration,
    half_open: u16,
}

impl BreakerConfig {
    /// Settings the `#[circuit_breaker]` macro already validated at compile time.
    #[doc(hidden)]
    #[must_use]
    pub const fn __validated(
        name: &'static str,
        trip: Trip,
        slow: Option<SlowCalls>,
        reset: Duration,
        half_open: u16,
    ) -> Self {
        Self {
            name,
            trip,
            slow,
            reset,
            half_open,
        }
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn with_name(self, name: &'static str) -> Self {
        Self { name, ..self }
    }
}

/// Builder of a [`CircuitBreaker`]; every option of `#[circuit_breaker]` has a method here.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use staunch::{CircuitBreaker, CircuitState, Rejected};
///
/// #[derive(Debug)]
/// enum Error { Down, Rejected(Rejected) }
/// impl From<Rejected> for Error {
///     fn from(r: Rejected) -> Self { Self::Rejected(r) }
/// }
///
/// let breaker = CircuitBreaker::builder("payments")
///     .fail_max(2)
///     .reset(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// for _ in 0..2 {
///     let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
/// }
/// assert_eq!(breaker.state(), CircuitState::Open);
/// let rejected = breaker.call(|| async { Ok::<_, Error>(()) }).await;
/// assert!(matches!(rejected, Err(Error::Rejected(Rejected::CircuitOpen { .. }))));
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CircuitBreakerBuilder {
    name: &'static str,
    fail_max: Option<u32>,
    window: Option<u32>,
    failure_rate: Option<u8>,
    min_calls: Option<u32>,
    slow_call: Option<Duration>,
    slow_rate: Option<u8>,
    reset: Duration,
    half_open: u16,
}

impl CircuitBreakerBuilder {
    /// Opens after `n` consecutive failures (default 5).
    pub fn fail_max(mut self, n: u32) -> Self {
        self.fail_max = Some(n);
        self
    }

    /// Judges the failure rate over the last `n` calls instead of counting failures in a row.
    pub fn window(mut self, n: u32) -> Self {
        self.window = Some(n);
        self
    }

    /// The failure percentage (1..=100) that opens the breaker (default 50).
    pub fn failure_rate(mut self, percent: u8) -> Self {
        self.failure_rate = Some(percent);
        self
    }

    /// Calls recorded before the rate is judged (default: the whole window).
    pub fn min_calls(mut self, n: u32) -> Self {
        self.min_calls = Some(n);
        self
    }

    /// A call lasting longer than `after` is slow.
    pub fn slow_call(mut self, after: Duration) -> Self {
        self.slow_call = Some(after);
        self
    }

    /// The slow-call percentage (1..=100) that opens the breaker (default 100).
    pub fn slow_rate(mut self, percent: u8) -> Self {
        self.slow_rate = Some(percent);
        self
    }

    /// How long OPEN waits before admitting trial calls (default 60 s).
    pub fn reset(mut self, after: Duration) -> Self {
        self.reset = after;
        self
    }

    /// Trial calls admitted in HALF_OPEN (default 1). With the consecutive policy all of them
    /// must succeed to close and any failure reopens; with a window, the breaker decides once
    /// they have all completed, on their failure and slow rates.
    pub fn half_open(mut self, trials: u16) -> Self {
        self.half_open = trials;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// [`ConfigError`] for zero counts, percentages outside 1..=100, `fail_max` with `window`,
    /// failure-rate or slow-call options without `window`, or `min_calls` above `window`.
    pub fn config(self) -> Result<BreakerConfig, ConfigError> {
        let trip = match (self.fail_max, self.window) {
            (Some(_), Some(_)) => return Err(ConfigError::Conflict("fail_max", "window")),
            (fail_max, None) => {
                for (option, given) in [("failure_rate", self.failure_rate.is_some())]
                    .into_iter()
                    .chain([("min_calls", self.min_calls.is_some())])
                    .chain([("slow_call", self.slow_call.is_some())])
                    .chain([("slow_rate", self.slow_rate.is_some())])
                {
                    if given {
                        return Err(ConfigError::Requires {
                            option,
                            requires: "window",
                        });
                    }
                }
                let fail_max = fail_max.unwrap_or(5);
                check(fail_max >= 1, "fail_max", "at least 1", fail_max)?;
                Trip::Consecutive { fail_max }
            }
            (None, Some(window)) => {
                check(
                    (1..=MAX_WINDOW).contains(&window),
                    "window",
                    "between 1 and 1048576",
                    window,
                )?;
                let failure_rate = self.failure_rate.unwrap_or(50);
                check_percent("failure_rate", failure_rate)?;
                let min_calls = self.min_calls.unwrap_or(window);
                check(
                    (1..=window).contains(&min_calls),
                    "min_calls",
                    "between 1 and `window`",
                    min_calls,
                )?;
                Trip::FailureRate {
                    window,
                    failure_rate,
                    min_calls,
                }
            }
        };
        let slow = match (self.slow_call, self.slow_rate) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ConfigError::Requires {
                    option: "slow_rate",
                    requires: "slow_call",
                });
            }
            (Some(after), rate) => {
                check(!after.is_zero(), "slow_call", "above zero", after)?;
                let rate = rate.unwrap_or(100);
                check_percent("slow_rate", rate)?;
                Some(SlowCalls { after, rate })
            }
        };
        check(!self.reset.is_zero(), "reset", "above zero", self.reset)?;
        check(
            self.half_open >= 1,
            "half_open",
            "at least 1",
            self.half_open,
        )?;
        Ok(BreakerConfig {
            name: self.name,
            trip,
            slow,
            reset: self.reset,
            half_open: self.half_open,
        })
    }

    /// A breaker of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        self.config().map(CircuitBreaker::new)
    }

    /// The process-wide breaker of this name, created with these settings if it does not
    /// exist yet (as `#[circuit_breaker(name = ...)]` does).
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static CircuitBreaker, ConfigError> {
        self.config()
            .map(|config| crate::registry::global().breaker_or_insert(&config))
    }
}

fn check_percent(option: &'static str, percent: u8) -> Result<(), ConfigError> {
    check(
        (1..=100).contains(&percent),
        option,
        "a percentage between 1 and 100",
        percent,
    )
}

/// A change of state, as sent to [`CircuitBreaker::subscribe`]rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The breaker's name.
    pub name: &'static str,
    /// The state it left.
    pub from: CircuitState,
    /// The state it entered.
    pub to: CircuitState,
}

/// Counters and rates of a breaker, as [`CircuitBreaker::metrics`] reads them.
///
/// Each state keeps its own counts, as in resilience4j: `rejected`, `window_calls` and the
/// rates are those of the current state. CLOSED counts its window; OPEN keeps the window that
/// opened it; HALF_OPEN counts its trials; closing starts a fresh window. The `_total`
/// counters and `failures` run from creation (or the last [`CircuitBreaker::reset`]).
///
/// Successes in CLOSED are not counted under the consecutive policy: counting them would make
/// every call write shared memory.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BreakerMetrics {
    /// The current state.
    pub state: CircuitState,
    /// Failures since creation or the last `reset()`.
    pub failures: u64,
    /// Calls refused in the current state (OPEN, FORCED_OPEN, or HALF_OPEN beyond its trials).
    pub rejected: u64,
    /// Calls refused since creation or the last `reset()`.
    pub rejected_total: u64,
    /// State changes.
    pub transitions: u64,
    /// Failures in a row right now, failed trials included (consecutive policy).
    pub consecutive_failures: u32,
    /// Calls recorded in the current state (failure-rate policy): the window's calls, or in
    /// HALF_OPEN the trials completed.
    pub window_calls: u32,
    /// Failure percentage of those calls (failure-rate policy), `None` until `min_calls` are
    /// recorded (`half_open` trials in HALF_OPEN): it is not judged before that.
    pub failure_rate: Option<f64>,
    /// Slow-call percentage of those calls (when slow calls are tracked), `None` as above.
    pub slow_rate: Option<f64>,
}

/// A circuit breaker. Share one through `#[circuit_breaker(name = "...")]`,
/// [`CircuitBreakerBuilder::build_shared`] or [`crate::breaker`].
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    word: AtomicU64,
    /// When OPEN ends, in [`clock`] nanoseconds; meaningful only while OPEN.
    open_until: AtomicU64,
    counting: Counting,
    failures: AtomicU64,
    /// Rejections since creation; `rejected_before` is its value when the current state began.
    rejected: AtomicU64,
    rejected_before: AtomicU64,
    transitions: AtomicU64,
    events: broadcast::Sender<Transition>,
}

/// The CLOSED-state bookkeeping of the trip policy.
#[derive(Debug)]
enum Counting {
    Consecutive {
        fail_max: u32,
        failures: AtomicU32,
    },
    FailureRate {
        window: Window,
        failure_rate: u8,
        min_calls: u32,
        /// The failed and slow trials of a HALF_OPEN period, tagged with its generation.
        trials: AtomicU64,
    },
}

/// What a finished call means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    /// A decision of another layer (a full bulkhead): neither success nor failure.
    Ignored,
}

impl CircuitBreaker {
    /// Starts building a breaker named `name`.
    pub fn builder(name: &'static str) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name,
            fail_max: None,
            window: None,
            failure_rate: None,
            min_calls: None,
            slow_call: None,
            slow_rate: None,
            reset: Duration::from_secs(60),
            half_open: 1,
        }
    }

    /// A breaker with validated settings.
    #[must_use]
    pub fn new(config: BreakerConfig) -> Self {
        let counting = match config.trip {
            Trip::Consecutive { fail_max } => Counting::Consecutive {
                fail_max,
                failures: AtomicU32::new(0),
            },
            Trip::FailureRate {
                window,
                failure_rate,
                min_calls,
            } => Counting::FailureRate {
                window: Window::new(window),
                failure_rate,
                min_calls,
                trials: AtomicU64::new(0),
            },
        };
        Self {
            config,
            word: AtomicU64::new(Word::INITIAL.0),
            open_until: AtomicU64::new(0),
            counting,
            failures: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            rejected_before: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            events: broadcast::Sender::new(16),
        }
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.config.name
    }

    /// Its settings.
    #[must_use]
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state. An OPEN breaker whose `reset` has passed reads OPEN until the next
    /// call moves it to HALF_OPEN.
    #[must_use]
    pub fn state(&self) -> CircuitState {
        self.load().state()
    }

    /// Trials in flight and trials completed in the current period (loom models only).
    #[cfg(loom)]
    #[doc(hidden)]
    #[must_use]
    pub fn __trials(&self) -> (u64, u64) {
        let word = self.load();
        (word.in_flight(), word.completed())
    }

    /// Holds the breaker open ([`CircuitState::ForcedOpen`]) until
    /// [`force_closed`](Self::force_closed) or [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.swap_period(CircuitState::ForcedOpen);
    }

    /// Closes the breaker, with its failure counts cleared.
    pub fn force_closed(&self) {
        self.swap_period(CircuitState::Closed);
    }

    /// Closes the breaker and clears every counter, as when it was created.
    pub fn reset(&self) {
        self.force_closed();
        for counter in [
            &self.failures,
            &self.rejected,
            &self.rejected_before,
            &self.transitions,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Counters and rates of the current state (see [`BreakerMetrics`]).
    #[must_use]
    pub fn metrics(&self) -> BreakerMetrics {
        let word = self.load();
        let state = word.state();
        let (consecutive_failures, counts) = match &self.counting {
            Counting::Consecutive { failures, .. } => (failures.load(Ordering::Relaxed), None),
            Counting::FailureRate { trials, .. } if state == CircuitState::HalfOpen => {
                let (failed, slow) =
                    trial_counts(trials.load(Ordering::Acquire), word.generation());
                #[allow(clippy::cast_possible_truncation)] // at most `half_open`, a u16
                let counts = window::Counts {
                    calls: word.completed() as u32,
                    failures: failed,
                    slow,
                };
                (0, Some((counts, u32::from(self.config.half_open))))
            }
            Counting::FailureRate {
                window, min_calls, ..
            } => (0, Some((window.counts(), *min_calls))),
        };
        let percent = |part: u32, calls: u32| f64::from(part) * 100.0 / f64::from(calls);
        let judged = counts.filter(|(c, min_calls)| c.calls > 0 && c.calls >= *min_calls);
        let rejected = self.rejected.load(Ordering::Relaxed);
        BreakerMetrics {
            state,
            failures: self.failures.load(Ordering::Relaxed),
            rejected: rejected.saturating_sub(self.rejected_before.load(Ordering::Relaxed)),
            rejected_total: rejected,
            transitions: self.transitions.load(Ordering::Relaxed),
            consecutive_failures,
            window_calls: counts.map_or(0, |(c, _)| c.calls),
            failure_rate: judged.map(|(c, _)| percent(c.failures, c.calls)),
            slow_rate: judged
                .filter(|_| self.config.slow.is_some())
                .map(|(c, _)| percent(c.slow, c.calls)),
        }
    }

    /// A receiver of every state change from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.events.subscribe()
    }

    /// Runs `f` through the breaker, counting every error as a failure.
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::CircuitOpen { .. })` when the breaker refuses.
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        self.call_with(f, |_| true).await
    }

    /// Runs `f` through the breaker, counting the errors `is_failure` accepts
    /// (others count as successes: the caller's fault, not the dependency's).
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::CircuitOpen { .. })` when the breaker refuses.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        f: F,
        is_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        finish(guard(self, async { lift(f().await) }, is_failure).await)
    }

    /// Runs `f` through the breaker, classifying errors by their [`Classify`] impl.
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::CircuitOpen { .. })` when the breaker refuses.
    pub async fn call_classified<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected> + Classify,
    {
        self.call_with(f, Classify::is_failure).await
    }

    #[inline]
    fn load(&self) -> Word {
        // Acquire pairs with the Release of every transition, so a caller that sees OPEN also
        // sees the `open_until` stored before it.
        Word(self.word.load(Ordering::Acquire))
    }

    /// The rejection of a call while OPEN or HALF_OPEN. Built by the caller from a plain
    /// number, returned from out of line in registers, rather than as a `Rejected` in memory
    /// that callers copy again.
    #[inline]
    fn rejection(&self, retry_in_nanos: u64) -> Rejected {
        Rejected::CircuitOpen {
            name: self.config.name,
            retry_in: Duration::from_nanos(retry_in_nanos),
        }
    }

    /// Admits a call while not CLOSED, or says in how many nanoseconds to retry.
    #[inline]
    fn admit_not_closed(&self) -> Result<Admission, u64> {
        let mut word = self.load();
        loop {
            let next = match word.state() {
                CircuitState::Closed => return Ok(Admission::Closed),
                CircuitState::ForcedOpen => {
                    return Err(self.reject(clock::nanos(self.config.reset)));
                }
                CircuitState::Open => {
                    let until = self.open_until.load(Ordering::Relaxed);
                    let now = clock::now();
                    if now < until {
                        return Err(self.reject(until - now));
                    }
                    word.next(CircuitState::HalfOpen).with_trials(1, 0)
                }
                CircuitState::HalfOpen => {
                    if word.in_flight() + word.completed() >= u64::from(self.config.half_open) {
                        return Err(self.reject(0));
                    }
                    word.with_trials(word.in_flight() + 1, word.completed())
                }
            };
            match self.exchange(word, next) {
                Ok(()) => {
                    if word.state() == CircuitState::Open {
                        self.transitioned(CircuitState::Open, CircuitState::HalfOpen);
                    }
                    return Ok(Admission::Trial(next.generation()));
                }
                Err(current) => word = current,
            }
        }
    }

    fn reject(&self, retry_in_nanos: u64) -> u64 {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        retry_in_nanos
    }

    fn exchange(&self, current: Word, next: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Records a finished call admitted by `admission`. A success in CLOSED under the
    /// consecutive policy is recorded here, inlined into the caller; the rest out of line.
    #[inline]
    fn record(&self, admission: Admission, outcome: Outcome, slow: bool) {
        if let (Admission::Closed, Outcome::Success, Counting::Consecutive { failures, .. }) =
            (admission, outcome, &self.counting)
        {
            clear_failures(failures);
            return;
        }
        self.record_other(admission, outcome, slow);
    }

    #[inline(never)]
    fn record_other(&self, admission: Admission, outcome: Outcome, slow: bool) {
        if outcome == Outcome::Failure {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        match admission {
            Admission::Closed => self.record_closed(outcome, slow),
            Admission::Trial(generation) => match (&self.counting, outcome) {
                (_, Outcome::Ignored) => self.trial_abandoned(generation),
                // pybreaker: a failing trial reopens at once, and counts as one more failure in
                // a row. (Slow calls need a window, so no trial here is slow.)
                (Counting::Consecutive { failures, .. }, Outcome::Failure) => {
                    if self.trip(CircuitState::HalfOpen, Some(generation)) {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (Counting::Consecutive { .. }, Outcome::Success) => {
                    self.trial_succeeded(generation);
                }
                (Counting::FailureRate { trials, .. }, outcome) => {
                    self.window_trial_finished(
                        trials,
                        generation,
                        outcome == Outcome::Failure,
                        slow,
                    );
                }
            },
        }
    }

    fn record_closed(&self, outcome: Outcome, slow: bool) {
        match &self.counting {
            Counting::Consecutive { fail_max, failures } => match outcome {
                Outcome::Success => clear_failures(failures),
                Outcome::Failure => {
                    if failures.fetch_add(1, Ordering::Relaxed) + 1 >= *fail_max {
                        self.trip(CircuitState::Closed, None);
                    }
                }
                Outcome::Ignored => {}
            },
            Counting::FailureRate {
                window,
                failure_rate,
                min_calls,
                ..
            } => {
                if outcome == Outcome::Ignored {
                    return;
                }
                let mut code = RECORDED;
                if outcome == Outcome::Failure {
                    code |= FAILED;
                }
                if slow {
                    code |= SLOW;
                }
                let Some(counts) = window.record(code) else {
                    return;
                };
                let over = |part: u32, rate: u8| {
                    u64::from(part) * 100 >= u64::from(rate) * u64::from(counts.calls)
                };
                let slow_over = self.config.slow.is_some_and(|s| over(counts.slow, s.rate));
                if counts.calls >= *min_calls && (over(counts.failures, *failure_rate) || slow_over)
                {
                    self.trip(CircuitState::Closed, None);
                }
            }
        }
    }

    fn trial_succeeded(&self, generation: u64) {
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == generation {
            let succeeded = word.completed() + 1;
            let closes = succeeded >= u64::from(self.config.half_open);
            let next = if closes {
                word.next(CircuitState::Closed)
            } else {
                word.with_trials(word.in_flight().saturating_sub(1), succeeded)
            };
            match self.exchange(word, next) {
                Ok(()) => {
                    if closes {
                        self.clear_counts();
                        self.transitioned(CircuitState::HalfOpen, CircuitState::Closed);
                    }
                    return;
                }
                Err(current) => word = current,
            }
        }
    }

    /// A trial of a window breaker finished (resilience4j): once `half_open` trials have
    /// completed, their failure and slow rates decide between OPEN and CLOSED.
    fn window_trial_finished(&self, trials: &AtomicU64, generation: u64, failed: bool, slow: bool) {
        // Counted first, then completed in the word: whoever completes the last trial has seen
        // every other trial's counts through the word's Acquire.
        let add = (u64::from(failed) << TRIAL_FAILED_SHIFT) + u64::from(slow);
        let mut current = trials.load(Ordering::Relaxed);
        loop {
            let tag = current >> TRIAL_TAG_SHIFT;
            let next = if tag == generation {
                current + add
            } else if is_later(generation, tag) {
                (generation << TRIAL_TAG_SHIFT) + add
            } else {
                // A trial of a period already decided.
                return;
            };
            match trials.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let half_open = u64::from(self.config.half_open);
        let Counting::FailureRate { failure_rate, .. } = &self.counting else {
            return;
        };
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == generation {
            let completed = word.completed() + 1;
            let (next, to) = if completed >= half_open {
                let (failed, slow) = trial_counts(trials.load(Ordering::Acquire), generation);
                let over =
                    |part: u32, rate: u8| u64::from(part) * 100 >= u64::from(rate) * half_open;
                let reopens = over(failed, *failure_rate)
                    || self.config.slow.is_some_and(|s| over(slow, s.rate));
                if reopens {
                    // Stored before the exchange that publishes OPEN, as in `trip`.
                    self.open_until.store(
                        clock::now().saturating_add(clock::nanos(self.config.reset)),
                        Ordering::Relaxed,
                    );
                    (word.next(CircuitState::Open), Some(CircuitState::Open))
                } else {
                    (word.next(CircuitState::Closed), Some(CircuitState::Closed))
                }
            } else {
                (
                    word.with_trials(word.in_flight().saturating_sub(1), completed),
                    None,
                )
            };
            match self.exchange(word, next) {
                Ok(()) => {
                    if let Some(to) = to {
                        if to == CircuitState::Closed {
                            self.clear_counts();
                        }
                        self.transitioned(CircuitState::HalfOpen, to);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Frees the slot of a trial that was cancelled or that another layer refused.
    fn trial_abandoned(&self, generation: u64) {
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == generation {
            let next = word.with_trials(word.in_flight().saturating_sub(1), word.completed());
            match self.exchange(word, next) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Opens the breaker if it is still in `from` (and in the period `generation`, if given);
    /// says whether it did.
    fn trip(&self, from: CircuitState, generation: Option<u64>) -> bool {
        let mut word = self.load();
        while word.state() == from && generation.is_none_or(|g| g == word.generation()) {
            // Stored before the exchange that publishes OPEN; nobody reads it outside OPEN.
            self.open_until.store(
                clock::now().saturating_add(clock::nanos(self.config.reset)),
                Ordering::Relaxed,
            );
            match self.exchange(word, word.next(CircuitState::Open)) {
                Ok(()) => {
                    self.transitioned(from, CircuitState::Open);
                    return true;
                }
                Err(current) => word = current,
            }
        }
        false
    }

    /// Moves to a new period in `to`, whatever the state (force_open, force_closed, reset).
    fn swap_period(&self, to: CircuitState) {
        let mut word = self.load();
        loop {
            match self.exchange(word, word.next(to)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        if to == CircuitState::Closed {
            self.clear_counts();
        }
        if word.state() != to {
            self.transitioned(word.state(), to);
        }
    }

    fn clear_counts(&self) {
        match &self.counting {
            Counting::Consecutive { failures, .. } => failures.store(0, Ordering::Relaxed),
            Counting::FailureRate { window, .. } => window.clear(),
        }
    }

    fn transitioned(&self, from: CircuitState, to: CircuitState) {
        self.transitions.fetch_add(1, Ordering::Relaxed);
        // The new state's rejections start from zero.
        self.rejected_before
            .store(self.rejected.load(Ordering::Relaxed), Ordering::Relaxed);
        tracing::warn!(
            target: "staunch",
            breaker = self.config.name,
            from = ?from,
            to = ?to,
            "circuit breaker changed state"
        );
        // No receiver is not an error: subscribing is optional.
        let _ = self.events.send(Transition {
            name: self.config.name,
            from,
            to,
        });
    }

    #[inline]
    fn times_calls(&self) -> bool {
        self.config.slow.is_some()
    }
}

/// Where a window breaker's trial counts sit in its `trials` word: the period's generation
/// above, failed trials, then slow trials in the low 16 bits.
const TRIAL_TAG_SHIFT: u32 = 32;
const TRIAL_FAILED_SHIFT: u32 = 16;

/// The failed and slow trials of period `generation` in a `trials` word (none if the word is
/// another period's).
fn trial_counts(trials: u64, generation: u64) -> (u32, u32) {
    if trials >> TRIAL_TAG_SHIFT != generation {
        return (0, 0);
    }
    #[allow(clippy::cast_possible_truncation)] // 16-bit fields
    let field = |shift: u32| ((trials >> shift) & 0xFFFF) as u32;
    (field(TRIAL_FAILED_SHIFT), field(0))
}

/// Whether generation `a` comes after `b` (30-bit generations that wrap).
fn is_later(a: u64, b: u64) -> bool {
    let distance = a.wrapping_sub(b) & ((1 << 30) - 1);
    distance != 0 && distance < (1 << 29)
}

/// Ends a run of consecutive failures. Loads first: a healthy breaker's success writes
/// nothing shared.
#[inline]
fn clear_failures(failures: &AtomicU32) {
    if failures.load(Ordering::Relaxed) != 0 {
        failures.store(0, Ordering::Relaxed);
    }
}

/// How a call was admitted.
#[derive(Debug, Clone, Copy)]
enum Admission {
    Closed,
    /// A HALF_OPEN trial of this generation.
    Trial(u64),
}

/// Runs one attempt through `breaker`: the layer that `#[circuit_breaker]` expands to.
///
/// The call is admitted when the future is first polled; dropping it unfinished (a cancelled
/// call) frees its trial slot.
#[inline]
pub fn guard<'b, T, E, R, F, P>(
    breaker: &'b CircuitBreaker,
    attempt: F,
    is_failure: P,
) -> Guard<'b, F, P>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    P: FnOnce(&E) -> bool,
{
    Guard {
        breaker,
        attempt,
        is_failure: Some(is_failure),
        stage: Stage::Unpolled,
        admission: Admission::Closed,
        started: None,
        trial: None,
    }
}

/// The slot of a HALF_OPEN trial in flight: dropped unfinished (the call was cancelled, or
/// its attempt panicked), it gives the slot back.
struct TrialSlot<'b> {
    breaker: &'b CircuitBreaker,
    generation: u64,
}

impl TrialSlot<'_> {
    /// The trial finished: its outcome, recorded by the caller, settles the slot.
    fn finish(self) {
        std::mem::forget(self);
    }
}

impl Drop for TrialSlot<'_> {
    fn drop(&mut self) {
        self.breaker.trial_abandoned(self.generation);
    }
}

/// Where a [`Guard`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unpolled,
    /// Admitted while CLOSED, calls not timed: the hot path.
    Closed,
    /// Admitted as `admission`, timed from `started` when slow calls are tracked.
    Admitted,
    Finished,
}

pin_project_lite::pin_project! {
    /// The future of [`guard`]. Awaited once by the code that the macros generate; like any
    /// future, it is not to be polled again once it has returned `Ready`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<'b, F, P> {
        breaker: &'b CircuitBreaker,
        #[pin]
        attempt: F,
        is_failure: Option<P>,
        stage: Stage,
        admission: Admission,
        started: Option<u64>,
        // After `attempt`, so dropped after it: a cancelled trial's call is gone before its
        // slot is given back, and never more than `half_open` trials run at once.
        trial: Option<TrialSlot<'b>>,
    }
}

impl<T, E, R, F, P> Future for Guard<'_, F, P>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    P: FnOnce(&E) -> bool,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let breaker: &CircuitBreaker = this.breaker;
        if *this.stage == Stage::Unpolled {
            if breaker.load().state() == CircuitState::Closed && !breaker.times_calls() {
                *this.stage = Stage::Closed;
            } else if let Err(retry_in_nanos) =
                breaker.admit_guarded(this.stage, this.admission, this.started, this.trial)
            {
                return Poll::Ready(Err(Failure::Rejected(breaker.rejection(retry_in_nanos))));
            }
        }
        let result = match this.attempt.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let stage = std::mem::replace(this.stage, Stage::Finished);
        let result = match result {
            Ok(value) if stage == Stage::Closed => {
                // No trial slot is held in CLOSED.
                breaker.record(Admission::Closed, Outcome::Success, false);
                return Poll::Ready(Ok(value));
            }
            result => widen(result),
        };
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(Failure::Error(e)) => match this.is_failure.take() {
                Some(is_failure) => {
                    if is_failure(e) {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    }
                }
                None => Outcome::Failure,
            },
            Err(Failure::Rejected(r)) => {
                if r.is_failure() {
                    Outcome::Failure
                } else {
                    Outcome::Ignored
                }
            }
        };
        breaker.settle(
            stage,
            *this.admission,
            *this.started,
            this.trial.take(),
            outcome,
        );
        Poll::Ready(result)
    }
}

/// The guard's steps off the hot path: not generic, so compiled once for every guarded
/// function, and out of line, so the hot path stays small enough to inline.
impl<'b> CircuitBreaker {
    /// Admits a call that is not on the hot path, or says in how many nanoseconds to retry.
    #[inline(never)]
    fn admit_guarded(
        &'b self,
        stage: &mut Stage,
        admission: &mut Admission,
        started: &mut Option<u64>,
        trial: &mut Option<TrialSlot<'b>>,
    ) -> Result<(), u64> {
        match self.admit_not_closed() {
            Ok(admitted) => {
                if let Admission::Trial(generation) = admitted {
                    *trial = Some(TrialSlot {
                        breaker: self,
                        generation,
                    });
                }
                *admission = admitted;
                *started = self.times_calls().then(clock::now);
                *stage = Stage::Admitted;
                Ok(())
            }
            Err(retry_in_nanos) => {
                *stage = Stage::Finished;
                Err(retry_in_nanos)
            }
        }
    }

    /// Records the outcome of a call that left the hot path.
    #[inline(never)]
    fn settle(
        &self,
        stage: Stage,
        admission: Admission,
        started: Option<u64>,
        trial: Option<TrialSlot<'_>>,
        outcome: Outcome,
    ) {
        if let Some(trial) = trial {
            trial.finish();
        }
        let (admission, started) = match stage {
            Stage::Closed => (Admission::Closed, None),
            Stage::Admitted => (admission, started),
            Stage::Unpolled | Stage::Finished => {
                panic!("`circuit_breaker` polled after completion")
            }
        };
        let slow = match (started, self.config.slow) {
            // Strictly longer: a call of exactly `slow_call` is not slow.
            (Some(started), Some(slow)) => {
                clock::now().saturating_sub(started) > clock::nanos(slow.after)
            }
            _ => false,
        };
        self.record(admission, outcome, slow);
    }
}
