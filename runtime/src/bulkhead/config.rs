//! A bulkhead's settings, and the builder that checks them as `#[bulkhead]` does.

use std::borrow::Cow;
use std::time::Duration;

use super::Bulkhead;
use crate::config::{ConfigError, checked};
use crate::names;

/// The validated settings of a bulkhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadConfig {
    pub(super) name: &'static str,
    pub(super) limit: usize,
    pub(super) max_wait: Duration,
}

impl BulkheadConfig {
    /// Settings the `#[bulkhead]` macro already validated at compile time.
    #[doc(hidden)]
    #[must_use]
    pub const fn __validated(name: &'static str, limit: usize, max_wait: Duration) -> Self {
        Self {
            name,
            limit,
            max_wait,
        }
    }

    /// The bulkhead's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The most calls in flight.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long a caller waits for a slot (zero: it is rejected at once).
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    pub(crate) fn with_name(self, name: &'static str) -> Self {
        Self { name, ..self }
    }
}

/// Builder of a [`Bulkhead`]; every option of `#[bulkhead]` has a method here.
///
/// ```
/// use std::time::Duration;
/// use staunch::Bulkhead;
///
/// let inventory = Bulkhead::builder(32)
///     .name("docs-inventory")
///     .max_wait(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// assert_eq!(inventory.config().limit(), 32);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct BulkheadBuilder {
    name: &'static str,
    limit: usize,
    max_wait: Duration,
}

impl Bulkhead {
    /// Starts building a bulkhead of at most `limit` calls in flight, rejecting at once when
    /// full, named `"bulkhead"` unless [`name`](BulkheadBuilder::name) says otherwise.
    pub fn builder(limit: usize) -> BulkheadBuilder {
        BulkheadBuilder {
            name: "bulkhead",
            limit,
            max_wait: Duration::ZERO,
        }
    }

    /// A bulkhead of its own of at most `limit` calls in flight, rejecting at once when full:
    /// `Bulkhead::builder(limit).build()`.
    ///
    /// # Errors
    /// See [`BulkheadBuilder::config`].
    pub fn new(limit: usize) -> Result<Self, ConfigError> {
        Self::builder(limit).build()
    }
}

impl BulkheadBuilder {
    /// The name in rejections, logs and the registry (a `&'static str`, or a `String` read at
    /// run time).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = names::intern(name);
        self
    }

    /// How long a caller waits for a slot before it is rejected (zero, the default: at once).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The validated settings: `limit` between 1 and [`Bulkhead::MAX_LIMIT`], as
    /// `#[bulkhead(limit = ...)]` accepts.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a `limit` of 0 or above the maximum, or an empty name.
    pub fn config(self) -> Result<BulkheadConfig, ConfigError> {
        use staunch_options::bulkhead::{LIMIT, MAX_WAIT, NAME};
        checked(NAME.check(self.name), self.name)?;
        checked(LIMIT.check(self.limit as u64), self.limit)?;
        checked(MAX_WAIT.check(self.max_wait), self.max_wait)?;
        Ok(BulkheadConfig::__validated(
            self.name,
            self.limit,
            self.max_wait,
        ))
    }

    /// A bulkhead of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        self.config().map(Bulkhead::with_config)
    }
}
