//! What a breaker is configured with: its states, trip policies and validated settings, and
//! the builder that checks them.

use std::time::Duration;

pub use staunch_options::circuit_breaker::{SlowCalls, Trip};

use super::CircuitBreaker;
use crate::config::{ConfigError, checked, refuse};

/// What a breaker does with its verdict (`mode` in settings), as resilience4j's `METRICS_ONLY`
/// and `DISABLED` states: for rolling a breaker out safely, or switching one off without a
/// redeploy.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use staunch::{CircuitBreaker, CircuitState};
/// use staunch::circuit_breaker::Mode;
///
/// let breaker = CircuitBreaker::builder("docs-observed").fail_max(1).mode(Mode::Observe).build().unwrap();
/// let _ = breaker.call(|| async { Err::<(), staunch::Rejected>(staunch::Rejected::Timeout { after: std::time::Duration::ZERO }) }).await;
/// assert_eq!(breaker.state(), CircuitState::Open, "it opens, as it would enforcing");
/// let passed = breaker.call(|| async { Ok::<_, staunch::Rejected>(7) }).await;
/// assert_eq!(passed.unwrap(), 7, "but it lets the call through");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Rejects calls while open (the default).
    #[default]
    Enforce,
    /// Records, reports and changes state as when enforcing, but never rejects a call.
    Observe,
    /// Passes every call and records nothing; the breaker stays CLOSED.
    Disabled,
}

impl Mode {
    /// The mode as settings write it: `"enforce"`, `"observe"`, `"disabled"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Observe => "observe",
            Self::Disabled => "disabled",
        }
    }

    /// The mode `text` names.
    ///
    /// # Errors
    /// [`ConfigError::Unknown`] with the modes there are and the nearest of them.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        match checked(staunch_options::circuit_breaker::MODE.parse(text), text)? {
            "observe" => Ok(Self::Observe),
            "disabled" => Ok(Self::Disabled),
            _ => Ok(Self::Enforce),
        }
    }
}

/// The validated settings of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub(super) name: &'static str,
    pub(super) mode: Mode,
    pub(super) trip: Trip,
    pub(super) slow: Option<SlowCalls>,
    pub(super) reset: Duration,
    pub(super) half_open: u16,
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
            mode: Mode::Enforce,
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

    /// What it does with its verdict.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// When it opens.
    #[must_use]
    pub fn trip(&self) -> Trip {
        self.trip
    }

    /// Which calls are slow, and the rate of them that opens it.
    #[must_use]
    pub fn slow(&self) -> Option<SlowCalls> {
        self.slow
    }

    /// How long OPEN waits before admitting trials.
    #[must_use]
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// Trial calls admitted in HALF_OPEN.
    #[must_use]
    pub fn half_open(&self) -> u16 {
        self.half_open
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
    pub(super) name: &'static str,
    pub(super) mode: Mode,
    pub(super) fail_max: Option<u32>,
    pub(super) window: Option<u32>,
    pub(super) failure_rate: Option<u8>,
    pub(super) min_calls: Option<u32>,
    pub(super) slow_call: Option<Duration>,
    pub(super) slow_rate: Option<u8>,
    pub(super) reset: Duration,
    pub(super) half_open: u16,
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

    /// What the breaker does with its verdict (default [`Mode::Enforce`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Validates the settings, as `#[circuit_breaker]` does.
    ///
    /// # Errors
    /// [`ConfigError`] for an empty name, zero counts, percentages outside 1..=100,
    /// `fail_max` with `window`, failure-rate or slow-call options without `window`, or
    /// `min_calls` above `window`.
    pub fn config(self) -> Result<BreakerConfig, ConfigError> {
        use staunch_options::circuit_breaker::{
            FAIL_MAX, FAIL_MAX_WITH_WINDOW, FAILURE_RATE, HALF_OPEN, NAME, RESET, SLOW_CALL,
            SLOW_RATE, SLOW_RATE_WITHOUT_SLOW_CALL, WINDOW, min_calls, requires_window,
        };
        checked(NAME.check(self.name), self.name)?;
        let trip = match (self.fail_max, self.window) {
            (Some(_), Some(_)) => return refuse(FAIL_MAX_WITH_WINDOW),
            (fail_max, None) => {
                let window_only = [
                    ("failure_rate", self.failure_rate.is_some()),
                    ("min_calls", self.min_calls.is_some()),
                    ("slow_call", self.slow_call.is_some()),
                    ("slow_rate", self.slow_rate.is_some()),
                ];
                if let Some((option, _)) = window_only.into_iter().find(|(_, given)| *given) {
                    return refuse(requires_window(option));
                }
                let fail_max = fail_max.map_or(FAIL_MAX.default.unwrap_or(5), u64::from);
                checked(FAIL_MAX.check(fail_max), fail_max)?;
                Trip::Consecutive {
                    fail_max: u32::try_from(fail_max).unwrap_or(u32::MAX),
                }
            }
            (None, Some(window)) => {
                checked(WINDOW.check(u64::from(window)), window)?;
                let failure_rate = self.failure_rate.unwrap_or(FAILURE_RATE.default);
                let failure_rate =
                    checked(FAILURE_RATE.check(u64::from(failure_rate)), failure_rate)?;
                let min_calls = checked(
                    min_calls(self.min_calls.map(u64::from), window),
                    self.min_calls,
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
            (None, Some(_)) => return refuse(SLOW_RATE_WITHOUT_SLOW_CALL),
            (Some(after), rate) => {
                let after = checked(SLOW_CALL.check(after), after)?;
                let rate = rate.unwrap_or(SLOW_RATE.default);
                let rate = checked(SLOW_RATE.check(u64::from(rate)), rate)?;
                Some(SlowCalls { after, rate })
            }
        };
        let reset = checked(RESET.check(self.reset), self.reset)?;
        checked(HALF_OPEN.check(u64::from(self.half_open)), self.half_open)?;
        Ok(BreakerConfig {
            name: self.name,
            mode: self.mode,
            trip,
            slow,
            reset,
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
}
