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

/// `build_shared` and `build_shared_in` of a builder whose instance is found by name.
macro_rules! build_shared {
    ($(#[$doc:meta])* $builder:ty => $instance:ty, $or_insert:ident) => {
        impl $builder {
            $(#[$doc])*
            ///
            /// # Errors
            /// See [`config`](Self::config).
            pub fn build_shared(self) -> Result<&'static $instance, ConfigError> {
                self.build_shared_in(global())
            }

            /// Like [`build_shared`](Self::build_shared), in `registry` rather than the
            /// process's.
            ///
            /// # Errors
            /// See [`config`](Self::config).
            pub fn build_shared_in(
                self,
                registry: &'static Registry,
            ) -> Result<&'static $instance, ConfigError> {
                self.config()
                    .map(|config| registry.$or_insert(&config, Source::Builder))
            }
        }
    };
}

build_shared!(
    /// The process-wide breaker of this name, created with these settings if it does not
    /// exist yet (as `#[circuit_breaker(name = ...)]` does).
    CircuitBreakerBuilder => CircuitBreaker, breaker_or_insert
);
build_shared!(
    /// The process-wide budget of this name, created with these settings if it does not exist.
    RetryBudgetBuilder => RetryBudget, budget_or_insert
);
build_shared!(
    /// The process-wide bulkhead of this name, created with these settings if it does not
    /// exist yet (as `#[bulkhead(name = ...)]` does).
    BulkheadBuilder => Bulkhead, bulkhead_or_insert
);
build_shared!(
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
    RateLimiterBuilder => RateLimiter, rate_limiter_or_insert
);
build_shared!(
    /// The process-wide hedge of this name, created with these settings if it does not exist
    /// yet (as `#[hedge(name = ...)]` does): its settings change at run time, and it is in the
    /// snapshot.
    HedgeBuilder => Hedge, hedge_or_insert
);
build_shared!(
    /// The process-wide cache of this name, created with these settings if it does not exist
    /// yet (as `#[cache(name = ...)]` does): its settings change at run time, and it is in the
    /// snapshot.
    CacheBuilder => Cache, cache_or_insert
);

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
