//! A hedge's settings, and the builder that checks them as `#[hedge]` does.

use std::borrow::Cow;
use std::time::Duration;

use super::Hedge;
use crate::config::{ConfigError, checked};
use crate::names;

/// The validated settings of a hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HedgeConfig {
    pub(super) name: &'static str,
    pub(super) delay: Duration,
    pub(super) max: u32,
}

impl HedgeConfig {
    /// Settings the `#[hedge]` macro already validated at compile time.
    #[doc(hidden)]
    #[must_use]
    pub const fn __validated(name: &'static str, delay: Duration, max: u32) -> Self {
        Self { name, delay, max }
    }

    /// The hedge's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How long an attempt may go unanswered before the next starts.
    #[must_use]
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Attempts in all, the first included.
    #[must_use]
    pub fn max(&self) -> u32 {
        self.max
    }

    pub(crate) fn with_name(self, name: &'static str) -> Self {
        Self { name, ..self }
    }
}

/// Builder of a [`Hedge`]; every option of `#[hedge]` has a method here.
///
/// ```
/// use std::time::Duration;
/// use staunch::Hedge;
///
/// let search = Hedge::builder().name("docs-built-hedge").delay(Duration::from_millis(50)).max(3).build().unwrap();
/// assert_eq!(search.config().max(), 3);
/// let error = Hedge::builder().max(1).config().unwrap_err();
/// assert_eq!(error.to_string(), "`max` must be at least 2, got 1");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct HedgeBuilder {
    name: &'static str,
    delay: Duration,
    max: u32,
}

impl Hedge {
    /// Starts building a hedge with the attribute's defaults: a second attempt after 2 s
    /// unanswered (`delay`), two attempts in all (`max`), named `"hedge"` unless
    /// [`name`](HedgeBuilder::name) says otherwise.
    pub fn builder() -> HedgeBuilder {
        use staunch_options::hedge::{DELAY, MAX};
        HedgeBuilder {
            name: "hedge",
            delay: DELAY.default.unwrap_or_default(),
            max: MAX
                .default
                .and_then(|max| u32::try_from(max).ok())
                .unwrap_or(2),
        }
    }
}

impl HedgeBuilder {
    /// The name in the registry, logs and metrics (a `&'static str`, or a `String` read at
    /// run time).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = names::intern(name);
        self
    }

    /// How long an attempt may go unanswered before the next starts (zero: all at once).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Attempts in all, the first included: 2 to 16.
    pub fn max(mut self, max: u32) -> Self {
        self.max = max;
        self
    }

    /// The validated settings, as `#[hedge]` accepts them.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a `max` below 2 or above 16, or an empty name.
    pub fn config(self) -> Result<HedgeConfig, ConfigError> {
        use staunch_options::hedge::{DELAY, MAX, NAME};
        checked(NAME.check(self.name), self.name)?;
        checked(DELAY.check(self.delay), self.delay)?;
        checked(MAX.check(u64::from(self.max)), self.max)?;
        Ok(HedgeConfig::__validated(self.name, self.delay, self.max))
    }

    /// A hedge of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<Hedge, ConfigError> {
        self.config().map(Hedge::with_config)
    }
}
