//! The circuit breaker: stops calling a dependency that keeps failing.
//!
//! CLOSED admits every call with one atomic load and, on success, writes nothing shared
//! (consecutive policy), so threads sharing a healthy breaker never contend. The clock is read
//! only while OPEN and to time calls when slow calls are tracked.

mod config;
mod guard;
mod report;
mod settings;
mod store;
mod trials;
mod window;
mod word;

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;

pub use self::config::{BreakerConfig, CircuitBreakerBuilder, Mode, SlowCalls, Trip};
#[cfg(feature = "tower")]
pub(crate) use self::guard::Ticket;
pub use self::guard::guard;
pub use self::report::{BreakerMetrics, Transition};
use self::settings::Settings;
use self::store::Origin;
pub use self::store::{BreakerStore, Record, SharedState};
use self::trials::trial_counts;
use self::window::{FAILED, RECORDED, SLOW, Window};
use self::word::Word;
use crate::config::ConfigError;
use crate::names;
pub use crate::observe::CircuitState;
use crate::observe::{self, CallOutcome, Event, Hub, InstanceKind, Tally};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::{Rejected, clock};

/// A circuit breaker. Share one through `#[circuit_breaker(name = "...")]`,
/// [`CircuitBreakerBuilder::build_shared`] or [`crate::breaker`].
#[derive(Debug)]
pub struct CircuitBreaker {
    name: &'static str,
    settings: Settings,
    word: AtomicU64,
    /// When OPEN ends, in [`clock`] nanoseconds; meaningful only while OPEN.
    open_until: AtomicU64,
    counting: Counting,
    /// Successes, for metrics: counted per thread.
    successes: Tally,
    failures: AtomicU64,
    /// Rejections since creation; `rejected_before` is its value when the current state began.
    rejected: AtomicU64,
    rejected_before: AtomicU64,
    /// Calls let through in observe mode that enforcing would have refused.
    observed: AtomicU64,
    transitions: AtomicU64,
    /// When the current state began, in [`clock`] nanoseconds.
    state_since: AtomicU64,
    events: broadcast::Sender<Transition>,
    hub: Hub,
    /// Serializes changes of settings.
    changing: Mutex<()>,
    /// Where the state is shared beyond this process, if it is.
    store: OnceLock<Arc<dyn BreakerStore>>,
}

/// The CLOSED-state bookkeeping of the trip policy.
#[derive(Debug)]
enum Counting {
    Consecutive {
        failures: AtomicU32,
    },
    FailureRate {
        window: Window,
        /// The failed and slow trials of a HALF_OPEN period, tagged with its generation.
        trials: AtomicU64,
    },
}

/// What a finished call means to the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// A decision of another layer (a full bulkhead): neither success nor failure.
    Ignored,
}

impl From<Outcome> for CallOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Self::Success,
            Outcome::Failure => Self::Failure,
            Outcome::Ignored => Self::Ignored,
        }
    }
}

impl CircuitBreaker {
    /// Starts building a breaker named `name` (a `&'static str`, or a `String` read at run
    /// time).
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name: names::intern(name),
            mode: Mode::Enforce,
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
            Trip::Consecutive { .. } => Counting::Consecutive {
                failures: AtomicU32::new(0),
            },
            Trip::FailureRate { window, .. } => Counting::FailureRate {
                window: Window::new(window),
                trials: AtomicU64::new(0),
            },
        };
        Self {
            name: config.name,
            settings: Settings::new(config),
            word: AtomicU64::new(Word::INITIAL.with_timed(off_the_hot_path(&config)).0),
            open_until: AtomicU64::new(0),
            counting,
            successes: observe::breaker_successes(config.name),
            failures: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            rejected_before: AtomicU64::new(0),
            observed: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            state_since: AtomicU64::new(clock::now()),
            events: broadcast::Sender::new(16),
            hub: Hub::new(),
            changing: Mutex::new(()),
            store: OnceLock::new(),
        }
    }

    /// The breaker's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> BreakerConfig {
        self.settings.config()
    }

    /// The settings it was created with: other call sites naming it are checked against them.
    pub(crate) fn created_config(&self) -> BreakerConfig {
        self.settings.created()
    }

    /// Puts `config` in force from the next call on, and returns the settings it replaced.
    /// The state and its counts stay: an open breaker stays open (for the `reset` it opened
    /// with), a HALF_OPEN period keeps its trials, and a CLOSED one its count of failures,
    /// judged against the new threshold at the next failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::builder("docs-retuned").fail_max(5).build().unwrap();
    /// let stricter = CircuitBreaker::builder("docs-retuned").fail_max(2).config().unwrap();
    /// let old = breaker.reconfigure(stricter).unwrap();
    /// assert_eq!(old, CircuitBreaker::builder("docs-retuned").fail_max(5).config().unwrap());
    /// assert_eq!(breaker.config(), stricter);
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name, another trip policy or another `window`
    /// (its counts would not mean the same); nothing changes.
    pub fn reconfigure(&self, config: BreakerConfig) -> Result<BreakerConfig, ConfigError> {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.config();
        self.fits(&config)?;
        self.settings.store(config);
        // The hot path reads from the word whether calls leave it.
        let timed = off_the_hot_path(&config);
        let mut word = self.load();
        while word.timed() != timed {
            match self.exchange(word, word.with_timed(timed)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        drop(_changing);
        if config.mode == Mode::Disabled && old.mode != Mode::Disabled {
            // A disabled breaker records nothing: it stays CLOSED, from a clean count.
            self.force_closed();
        }
        // Fewer trials, none in flight: the period is decided now, or it would wait forever.
        // (Unlocked: deciding it may tell a store, which may change the breaker.)
        self.settle_half_open();
        if config != old {
            observe::settings_changed(
                &self.hub,
                InstanceKind::CircuitBreaker,
                self.name,
                &old,
                &config,
            );
        }
        Ok(old)
    }

    /// Whether `config` can replace the settings in force: the same name, trip policy and
    /// window (the counts would not mean the same under another).
    pub(crate) fn fits(&self, config: &BreakerConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)?;
        if !settings::same_shape(&self.config(), config) {
            return Err(ConfigError::Running {
                option: match config.trip {
                    Trip::Consecutive { .. } => "fail_max",
                    Trip::FailureRate { .. } => "window",
                },
                reason: "a running breaker keeps its trip policy (`fail_max` or `window`) and its window's size: its counts would not mean the same under another; restart to change it",
            });
        }
        Ok(())
    }

    /// The breaker with `created` as the settings other call sites are checked against.
    pub(crate) fn created_as(mut self, created: BreakerConfig) -> Self {
        self.settings.created = created;
        self
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
    /// [`force_closed`](Self::force_closed) or [`reset`](Self::reset) (or a store's
    /// [`adopt`](Self::adopt) of CLOSED: the fleet's decision).
    pub fn force_open(&self) {
        self.move_to(CircuitState::ForcedOpen, Origin::Local);
    }

    /// Closes the breaker, with its failure counts cleared.
    pub fn force_closed(&self) {
        self.move_to(CircuitState::Closed, Origin::Local);
    }

    /// Closes the breaker and clears every counter, as when it was created.
    pub fn reset(&self) {
        self.force_closed();
        for counter in [
            &self.failures,
            &self.rejected,
            &self.rejected_before,
            &self.observed,
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
                #[allow(clippy::cast_possible_truncation)] // a u16 setting
                let half_open = self.settings.half_open() as u32;
                (0, Some((counts, half_open)))
            }
            Counting::FailureRate { window, .. } => {
                (0, Some((window.counts(), self.settings.min_calls())))
            }
        };
        let percent = |part: u32, calls: u32| f64::from(part) * 100.0 / f64::from(calls);
        let judged = counts.filter(|(c, min_calls)| c.calls > 0 && c.calls >= *min_calls);
        let rejected = self.rejected.load(Ordering::Relaxed);
        BreakerMetrics {
            state,
            in_state: Duration::from_nanos(
                clock::now().saturating_sub(self.state_since.load(Ordering::Relaxed)),
            ),
            successes: self.successes.total(),
            failures: self.failures.load(Ordering::Relaxed),
            rejected: rejected.saturating_sub(self.rejected_before.load(Ordering::Relaxed)),
            rejected_total: rejected,
            observed_rejections: self.observed.load(Ordering::Relaxed),
            transitions: self.transitions.load(Ordering::Relaxed),
            consecutive_failures,
            window_calls: counts.map_or(0, |(c, _)| c.calls),
            failure_rate: judged.map(|(c, _)| percent(c.failures, c.calls)),
            slow_rate: judged
                .filter(|_| self.settings.times_calls())
                .map(|(c, _)| percent(c.slow, c.calls)),
        }
    }

    /// A receiver of every state change from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.events.subscribe()
    }

    /// A receiver of every [`Event`] of this breaker from now on: its transitions, its
    /// rejections, a conflict over its settings.
    #[must_use]
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
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
    pub(crate) fn rejection(&self, retry_in_nanos: u64) -> Rejected {
        Rejected::CircuitOpen {
            name: self.name,
            retry_in: Duration::from_nanos(retry_in_nanos),
        }
    }

    /// Admits a call while not CLOSED, or says in how many nanoseconds to retry.
    #[inline]
    fn admit_not_closed(&self) -> Result<Admission, u64> {
        let mut word = self.load();
        loop {
            let next = match word.state() {
                CircuitState::Closed if self.settings.mode() == Mode::Disabled => {
                    return Ok(Admission::Passed);
                }
                CircuitState::Closed => return Ok(Admission::Closed),
                CircuitState::ForcedOpen => {
                    return self.reject(self.settings.reset_nanos());
                }
                CircuitState::Open => {
                    let until = self.open_until.load(Ordering::Relaxed);
                    let now = clock::now();
                    if now < until {
                        return self.reject(until - now);
                    }
                    if self.settings.mode() == Mode::Disabled {
                        return Ok(Admission::Passed);
                    }
                    word.next(CircuitState::HalfOpen).with_trials(1, 0)
                }
                CircuitState::HalfOpen => {
                    if word.in_flight() + word.completed() >= self.settings.half_open() {
                        return self.reject(0);
                    }
                    if self.settings.mode() == Mode::Disabled {
                        return Ok(Admission::Passed);
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

    /// Turns a call away, or lets it through unrecorded when the breaker does not enforce.
    fn reject(&self, retry_in_nanos: u64) -> Result<Admission, u64> {
        if !self.settings.enforces() {
            return Ok(self.let_through());
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        observe::rejected(&self.hub, InstanceKind::CircuitBreaker, self.name, || {
            self.rejection(retry_in_nanos)
        });
        Err(retry_in_nanos)
    }

    /// A call a breaker that does not enforce lets through where it would have refused it.
    #[cold]
    #[inline(never)]
    fn let_through(&self) -> Admission {
        if self.settings.mode() == Mode::Observe {
            self.observed.fetch_add(1, Ordering::Relaxed);
        }
        Admission::Passed
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
            self.successes.add();
            self.clear_failures(failures);
            return;
        }
        self.record_other(admission, outcome, slow);
    }

    #[inline(never)]
    fn record_other(&self, admission: Admission, outcome: Outcome, slow: bool) {
        match outcome {
            Outcome::Success => self.successes.add(),
            Outcome::Failure => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.ended(CallOutcome::Failure);
            }
            Outcome::Ignored => self.ended(CallOutcome::Ignored),
        }
        match admission {
            // Counted, not recorded: an observing breaker reports the calls it would have
            // refused (a disabled one's do not get here).
            Admission::Passed => {}
            Admission::Closed => self.record_closed(outcome, slow),
            Admission::Trial(generation) => {
                if outcome != Outcome::Ignored {
                    let failed = outcome == Outcome::Failure;
                    self.share(Record::Trial { failed, slow });
                }
                self.record_trial(generation, outcome, slow);
            }
        }
    }

    fn record_trial(&self, generation: u64, outcome: Outcome, slow: bool) {
        match (&self.counting, outcome) {
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
                self.window_trial_finished(trials, generation, outcome == Outcome::Failure, slow);
            }
        }
    }

    fn record_closed(&self, outcome: Outcome, slow: bool) {
        match &self.counting {
            Counting::Consecutive { failures } => match outcome {
                Outcome::Success => self.clear_failures(failures),
                Outcome::Failure => {
                    // The period the failure counts in: a state the store adopts meanwhile
                    // is not undone by this count.
                    let period = self.load().generation();
                    let failed = failures.fetch_add(1, Ordering::Relaxed) + 1;
                    self.share(Record::Call {
                        failed: true,
                        slow: false,
                    });
                    if failed >= self.settings.fail_max() {
                        self.trip(CircuitState::Closed, Some(period));
                    }
                }
                Outcome::Ignored => {}
            },
            Counting::FailureRate { window, .. } => {
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
                let period = self.load().generation();
                let counted = window.record(code);
                let failed = outcome == Outcome::Failure;
                if failed || slow {
                    self.share(Record::Call { failed, slow });
                }
                let Some(counts) = counted else {
                    return;
                };
                let over = |part: u32, rate: u8| {
                    u64::from(part) * 100 >= u64::from(rate) * u64::from(counts.calls)
                };
                let slow_over = self
                    .settings
                    .slow_rate()
                    .is_some_and(|rate| over(counts.slow, rate));
                let failing = over(counts.failures, self.settings.failure_rate());
                if counts.calls >= self.settings.min_calls() && (failing || slow_over) {
                    self.trip(CircuitState::Closed, Some(period));
                }
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
                clock::now().saturating_add(self.settings.reset_nanos()),
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

    /// Moves to a new period in `to`, whatever the state (force_open, force_closed, reset, a
    /// state adopted from the store).
    fn move_to(&self, to: CircuitState, origin: Origin) {
        if to == CircuitState::Closed {
            // Before CLOSED is published: its first calls count from zero.
            self.clear_counts();
        }
        let mut word = self.load();
        loop {
            match self.exchange(word, word.next(to)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        if word.state() != to {
            self.transitioned_from(origin, word.state(), to);
        }
    }

    fn clear_counts(&self) {
        match &self.counting {
            Counting::Consecutive { failures, .. } => failures.store(0, Ordering::Relaxed),
            Counting::FailureRate { window, .. } => window.clear(),
        }
    }

    fn transitioned(&self, from: CircuitState, to: CircuitState) {
        self.transitioned_from(Origin::Local, from, to);
    }

    fn transitioned_from(&self, origin: Origin, from: CircuitState, to: CircuitState) {
        if origin == Origin::Local {
            self.share(Record::Transition {
                from,
                to,
                open_for: (to == CircuitState::Open)
                    .then(|| Duration::from_nanos(self.settings.reset_nanos())),
            });
        }
        self.transitions.fetch_add(1, Ordering::Relaxed);
        self.state_since.store(clock::now(), Ordering::Relaxed);
        // The new state's rejections start from zero.
        self.rejected_before
            .store(self.rejected.load(Ordering::Relaxed), Ordering::Relaxed);
        observe::transition(&self.hub, self.name, from, to);
        // No receiver is not an error: subscribing is optional.
        let _ = self.events.send(Transition {
            name: self.name,
            from,
            to,
        });
    }

    /// Ends a run of consecutive failures. Loads first: a healthy breaker's success writes
    /// nothing shared.
    #[inline]
    fn clear_failures(&self, failures: &AtomicU32) {
        if failures.load(Ordering::Relaxed) != 0 {
            self.recovered(failures);
        }
    }

    #[cold]
    #[inline(never)]
    fn recovered(&self, failures: &AtomicU32) {
        // Swapped: of two successes ending one run, one tells the store.
        if failures.swap(0, Ordering::Relaxed) != 0 {
            self.share(Record::Recovered);
        }
    }

    fn ended(&self, outcome: CallOutcome) {
        observe::call_ended(&self.hub, InstanceKind::CircuitBreaker, self.name, outcome);
    }

    #[inline]
    fn times_calls(&self) -> bool {
        self.settings.times_calls()
    }
}

/// Whether calls under `config` leave the hot path: timed calls, and every call of a disabled
/// breaker (let through unrecorded from the slow path, so the hot path checks no mode).
fn off_the_hot_path(config: &BreakerConfig) -> bool {
    config.slow.is_some() || config.mode == Mode::Disabled
}

/// How a call was admitted.
#[derive(Debug, Clone, Copy)]
enum Admission {
    Closed,
    /// A HALF_OPEN trial of this generation.
    Trial(u64),
    /// Let through by a breaker that does not enforce: not recorded.
    Passed,
}
