//! Named instances made shared: the builders' `build_shared`, and retry policies entering the
//! registry at their first retry. Here rather than beside each policy, so that no policy
//! depends on the registry.

use super::create::Source;
use super::{Registry, global};
use crate::retry::Attempts;
use crate::{
    Bulkhead, BulkheadBuilder, Cache, CacheBuilder, CircuitBreaker, CircuitBreakerBuilder,
    ConfigError, Hedge, HedgeBuilder, RateLimiter, RateLimiterBuilder, Retry, RetryBudget,
    RetryBudgetBuilder, RetryPolicy,
};

impl CircuitBreakerBuilder {
    /// The process-wide breaker of this name, created with these settings if it does not
    /// exist yet (as `#[circuit_breaker(name = ...)]` does).
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static CircuitBreaker, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static CircuitBreaker, ConfigError> {
        self.config()
            .map(|config| registry.breaker_or_insert(&config, Source::Builder))
    }
}

impl Retry {
    /// The process-wide policy of this name, created with these settings if it does not exist
    /// yet: one instance that [`Registry::retry`] finds and its settings changed on.
    ///
    /// ```
    /// use staunch::Retry;
    ///
    /// let policy = Retry::exponential().name("docs-shared-retry").max_attempts(4).build_shared().unwrap();
    /// assert!(std::ptr::eq(policy, staunch::registry().retry("docs-shared-retry").unwrap()));
    /// ```
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static RetryPolicy, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static RetryPolicy, ConfigError> {
        self.config()
            .map(|config| registry.retry_or_insert(&config))
    }
}

impl RetryBudgetBuilder {
    /// The process-wide budget of this name, created with these settings if it does not exist.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static RetryBudget, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static RetryBudget, ConfigError> {
        self.config()
            .map(|config| registry.budget_or_insert(&config, Source::Builder))
    }
}

impl BulkheadBuilder {
    /// The process-wide bulkhead of this name, created with these settings if it does not
    /// exist yet (as `#[bulkhead(name = ...)]` does).
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static Bulkhead, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static Bulkhead, ConfigError> {
        self.config()
            .map(|config| registry.bulkhead_or_insert(&config, Source::Builder))
    }
}

impl RateLimiterBuilder {
    /// The process-wide rate limiter of this name, created with these settings if it does not
    /// exist yet (as `#[rate_limit(name = ...)]` does): every caller naming it shares its
    /// rate.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    ///
    /// let first = RateLimiter::builder(5, Duration::from_secs(1)).name("docs-shared-limit").build_shared().unwrap();
    /// let again = RateLimiter::builder(5, Duration::from_secs(1)).name("docs-shared-limit").build_shared().unwrap();
    /// assert!(std::ptr::eq(first, again));
    /// ```
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static RateLimiter, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static RateLimiter, ConfigError> {
        self.config()
            .map(|config| registry.rate_limiter_or_insert(&config, Source::Builder))
    }
}

impl CacheBuilder {
    /// The process-wide cache of this name, created with these settings if it does not exist
    /// yet (as `#[cache(name = ...)]` does): its settings change at run time, and it is in the
    /// snapshot.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static Cache, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static Cache, ConfigError> {
        self.config()
            .map(|config| registry.cache_or_insert(&config, Source::Builder))
    }
}

impl HedgeBuilder {
    /// The process-wide hedge of this name, created with these settings if it does not exist
    /// yet (as `#[hedge(name = ...)]` does): its settings change at run time, and it is in the
    /// snapshot.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static Hedge, ConfigError> {
        self.build_shared_in(global())
    }

    /// Like [`build_shared`](Self::build_shared), in `registry` rather than the process's.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared_in(
        self,
        registry: &'static Registry,
    ) -> Result<&'static Hedge, ConfigError> {
        self.config()
            .map(|config| registry.hedge_or_insert(&config, Source::Builder))
    }
}

impl Attempts<&'static RetryPolicy> {
    /// Like [`new`](Self::new), for a policy that enters the registry at its first failure,
    /// taking the settings of its name.
    #[inline]
    #[must_use]
    pub fn registered(policy: &'static RetryPolicy) -> Self {
        Self::new(policy).on_first_failure(register)
    }
}

fn register(policy: &&'static RetryPolicy) {
    if policy.first_registration() {
        global().add_retry(policy);
    }
}
