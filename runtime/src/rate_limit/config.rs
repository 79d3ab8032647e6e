//! A rate limiter's settings, and the builder that checks them as `#[rate_limit]` does.

use std::borrow::Cow;
use std::time::Duration;

use staunch_options::rate_limit::Rate;

use super::RateLimiter;
use crate::config::{ConfigError, checked};
use crate::names;

/// The validated settings of a rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub(super) name: &'static str,
    pub(super) rate: Rate,
    pub(super) burst: u64,
    pub(super) max_wait: Duration,
}

impl RateLimitConfig {
    /// Settings the `#[rate_limit]` macro already validated at compile time.
    #[doc(hidden)]
    #[must_use]
    pub const fn __validated(
        name: &'static str,
        calls: u64,
        per: Duration,
        burst: u64,
        max_wait: Duration,
    ) -> Self {
        Self {
            name,
            rate: Rate { calls, per },
            burst,
            max_wait,
        }
    }

    /// The limiter's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Calls allowed per [`period`](Self::period) on average.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.rate.calls
    }

    /// The period of the rate.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.rate.per
    }

    /// Calls allowed at once after a quiet period.
    #[must_use]
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// How long a caller waits for its turn (zero: it is refused at once).
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    pub(crate) fn with_name(self, name: &'static str) -> Self {
        Self { name, ..self }
    }
}

/// Builder of a [`RateLimiter`]; every option of `#[rate_limit]` has a method here.
///
/// ```
/// use std::time::Duration;
/// use staunch::RateLimiter;
///
/// // "600/m", 20 at once, callers wait up to 100 ms for their turn.
/// let search = RateLimiter::builder(600, Duration::from_secs(60))
///     .name("docs-built-search")
///     .burst(20)
///     .max_wait(Duration::from_millis(100))
///     .build()
///     .unwrap();
/// assert_eq!(search.config().burst(), 20);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RateLimiterBuilder {
    name: &'static str,
    rate: Rate,
    burst: Option<u64>,
    max_wait: Duration,
}

impl RateLimiter {
    /// Starts building a limiter of `calls` per `per` on average, refusing at once when
    /// saturated, with one period's worth of calls as its burst, named `"rate_limit"` unless
    /// [`name`](RateLimiterBuilder::name) says otherwise.
    pub fn builder(calls: u64, per: Duration) -> RateLimiterBuilder {
        RateLimiterBuilder {
            name: "rate_limit",
            rate: Rate { calls, per },
            burst: None,
            max_wait: Duration::ZERO,
        }
    }
}

impl RateLimiterBuilder {
    /// The name in rejections, logs and the registry (a `&'static str`, or a `String` read at
    /// run time).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = names::intern(name);
        self
    }

    /// Calls allowed at once after a quiet period (by default, one period's worth).
    pub fn burst(mut self, burst: u64) -> Self {
        self.burst = Some(burst);
        self
    }

    /// How long a caller waits for its turn before it is refused (zero, the default: at once).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The validated settings, as `#[rate_limit]` accepts them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    ///
    /// let error = RateLimiter::builder(100, Duration::from_secs(1)).burst(0).config().unwrap_err();
    /// assert_eq!(error.to_string(), "`burst` must be at least 1, got 0");
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a rate of no calls, a period of zero, more than one call
    /// per nanosecond, a `burst` of 0 or of more calls than the rate allows in a year, a
    /// `max_wait` over a day, or an empty name.
    pub fn config(self) -> Result<RateLimitConfig, ConfigError> {
        use staunch_options::rate_limit::{self as options, NAME};
        checked(NAME.check(self.name), self.name)?;
        let rate = checked(self.rate.check(), options::format(self.rate))?;
        let burst = self.burst.unwrap_or_else(|| rate.default_burst());
        checked(options::burst(rate, burst), burst)?;
        checked(options::max_wait(self.max_wait), self.max_wait)?;
        Ok(RateLimitConfig {
            name: self.name,
            rate,
            burst,
            max_wait: self.max_wait,
        })
    }

    /// A limiter of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        self.config().map(RateLimiter::with_config)
    }
}
