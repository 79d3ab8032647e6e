//! A cache's settings, and the builder that checks them as `#[cache]` does.

use std::borrow::Cow;
use std::time::Duration;

use super::Cache;
use crate::config::{ConfigError, checked};
use crate::names;

/// The validated settings of a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    pub(super) name: &'static str,
    pub(super) ttl: Duration,
    pub(super) stale: Duration,
    pub(super) capacity: u64,
}

impl CacheConfig {
    /// Settings the `#[cache]` macro already validated at compile time.
    #[doc(hidden)]
    #[must_use]
    pub const fn __validated(
        name: &'static str,
        ttl: Duration,
        stale: Duration,
        capacity: u64,
    ) -> Self {
        Self {
            name,
            ttl,
            stale,
            capacity,
        }
    }

    /// The cache's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How long an answer is served without calling again.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How old an answer may be and still be served when the call fails (`ttl`: never).
    #[must_use]
    pub fn stale(&self) -> Duration {
        self.stale
    }

    /// The most answers kept.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn with_name(self, name: &'static str) -> Self {
        Self { name, ..self }
    }
}

/// Builder of a [`Cache`]; every option of `#[cache]` has a method here (`key` is the key
/// given to [`Cache::call`]).
///
/// ```
/// use std::time::Duration;
/// use staunch::Cache;
///
/// let profiles = Cache::builder(Duration::from_secs(30))
///     .stale(Duration::from_secs(600))
///     .capacity(1_000)
///     .name("docs-built-cache")
///     .build()
///     .unwrap();
/// assert_eq!(profiles.config().stale(), Duration::from_secs(600));
/// let error = Cache::builder(Duration::from_secs(30)).stale(Duration::from_secs(5)).config().unwrap_err();
/// assert!(error.to_string().starts_with("`stale` must be at least `ttl`"), "{error}");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheBuilder {
    name: &'static str,
    ttl: Duration,
    stale: Option<Duration>,
    capacity: u64,
}

impl Cache {
    /// Starts building a cache whose answers are served for `ttl`, with the attribute's
    /// defaults: no stale answer (`stale` = `ttl`), 10 000 answers at most (`capacity`), named
    /// `"cache"` unless [`name`](CacheBuilder::name) says otherwise.
    pub fn builder(ttl: Duration) -> CacheBuilder {
        CacheBuilder {
            name: "cache",
            ttl,
            stale: None,
            capacity: staunch_options::cache::CAPACITY.default.unwrap_or(10_000),
        }
    }
}

impl CacheBuilder {
    /// The name in the registry, logs and metrics (a `&'static str`, or a `String` read at
    /// run time).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = names::intern(name);
        self
    }

    /// How long an answer is served without calling again: above zero, at most a year.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How old an answer may be and still be served when the call fails: at least `ttl`.
    pub fn stale(mut self, stale: Duration) -> Self {
        self.stale = Some(stale);
        self
    }

    /// The most answers kept: 1 to 2³² − 1.
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// The validated settings, as `#[cache]` accepts them.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a zero `ttl`, a `stale` shorter than `ttl`, an age
    /// above a year, a `capacity` out of range or an empty name.
    pub fn config(self) -> Result<CacheConfig, ConfigError> {
        use staunch_options::cache::{self as options, CAPACITY, NAME};
        checked(NAME.check(self.name), self.name)?;
        let ttl = checked(options::ttl(self.ttl), self.ttl)?;
        let stale = checked(options::stale(ttl, self.stale), self.stale)?;
        let capacity = checked(CAPACITY.check(self.capacity), self.capacity)?;
        Ok(CacheConfig::__validated(self.name, ttl, stale, capacity))
    }

    /// A cache of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<Cache, ConfigError> {
        self.config().map(Cache::with_config)
    }
}
