//! The builder of a retry policy, checking its settings as the attribute does.

use std::borrow::Cow;
use std::time::Duration;

use super::{Backoff, Jitter, RetryConfig, RetryPolicy};
use crate::config::{ConfigError, checked, refuse};
use crate::names;

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
    /// A `factor` given to a backoff that has none: reported by `build`, not ignored.
    factor_without_exp: bool,
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
            factor_without_exp: false,
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
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = names::intern(name);
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
            self.factor_without_exp = true;
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
    pub fn config(self) -> Result<RetryConfig, ConfigError> {
        use staunch_options::retry::{FACTOR, FACTOR_WITHOUT_EXP, MAX, MAX_DELAY, MAX_ELAPSED};
        checked(MAX.check(u64::from(self.max_attempts)), self.max_attempts)?;
        if self.factor_without_exp {
            return refuse(FACTOR_WITHOUT_EXP);
        }
        if let Backoff::Exponential { factor } = self.backoff {
            checked(FACTOR.check(factor), factor)?;
        }
        if let Some(max_delay) = self.max_delay {
            checked(MAX_DELAY.check(max_delay), max_delay)?;
        }
        let (base, max_delay) = checked(
            staunch_options::retry::delays(self.base, self.max_delay),
            self.base,
        )?;
        if let Some(max_elapsed) = self.max_elapsed {
            checked(MAX_ELAPSED.check(max_elapsed), max_elapsed)?;
        }
        Ok(RetryConfig {
            name: self.name,
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            base,
            max_delay,
            max_elapsed: self.max_elapsed,
            jitter: self.jitter,
            seed: self.seed,
        })
    }

    /// A policy of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<RetryPolicy, ConfigError> {
        self.config().map(RetryPolicy::new)
    }
}
