//! Named instances made shared: the builders' `build_shared`, and retry policies entering the
//! registry at their first retry. Here rather than beside each policy, so that no policy
//! depends on the registry.

use std::time::Duration;

use super::global;
use crate::retry::Attempts;
use crate::{
    Bulkhead, BulkheadConfig, CircuitBreaker, CircuitBreakerBuilder, ConfigError, RetryBudget,
    RetryBudgetBuilder, RetryPolicy,
};

impl CircuitBreakerBuilder {
    /// The process-wide breaker of this name, created with these settings if it does not
    /// exist yet (as `#[circuit_breaker(name = ...)]` does).
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static CircuitBreaker, ConfigError> {
        self.config()
            .map(|config| global().breaker_or_insert(&config))
    }
}

impl RetryBudgetBuilder {
    /// The process-wide budget of this name, created with these settings if it does not exist.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build_shared(self) -> Result<&'static RetryBudget, ConfigError> {
        self.config()
            .map(|config| global().budget_or_insert(&config))
    }
}

impl Bulkhead {
    /// The process-wide bulkhead of this name, created with these settings if it does not exist.
    ///
    /// # Errors
    /// See [`BulkheadConfig::new`].
    pub fn shared(
        name: impl Into<std::borrow::Cow<'static, str>>,
        limit: usize,
        max_wait: Duration,
    ) -> Result<&'static Self, ConfigError> {
        BulkheadConfig::new(name, limit, max_wait)
            .map(|config| global().bulkhead_or_insert(&config))
    }
}

impl Attempts<'static> {
    /// Like [`new`](Self::new), for a policy that appears in the registry once it retries.
    #[inline]
    #[must_use]
    pub fn registered(policy: &'static RetryPolicy) -> Self {
        Self::new(policy).on_retry(register)
    }
}

fn register(policy: &'static RetryPolicy) {
    if policy.first_registration() {
        global().add_retry(policy);
    }
}
