//! The call sites that the attributes declare before `main` runs (through `inventory`), so
//! that settings applied at startup can name their instances before their first call.
//!
//! A site is declared when its instance's name is known at compile time: a `name = "..."`, or
//! the default name of a free function. An unnamed method's instance is named after its type
//! at its first call, and known from then on.

use super::Registry;
use super::create::Source;
use super::slots::{BreakerSlot, BudgetSlot, BulkheadSlot, CacheSlot, HedgeSlot, RateLimiterSlot};
use crate::observe::InstanceKind;
use crate::{
    BreakerConfig, BudgetConfig, BulkheadConfig, CacheConfig, HedgeConfig, RateLimitConfig,
    RetryPolicy,
};

/// A call site of an attribute, as generated code declares it: a function returning its
/// static (holding the static's address in the declaration's data measurably slows the calls
/// of a retried function).
#[derive(Debug)]
pub enum Site {
    /// `#[circuit_breaker]`.
    CircuitBreaker(fn() -> &'static BreakerSlot),
    /// `#[bulkhead]`.
    Bulkhead(fn() -> &'static BulkheadSlot),
    /// `#[retry]`: its policy.
    Retry(fn() -> &'static RetryPolicy),
    /// `#[retry(budget = "...")]`: the budget it spends.
    RetryBudget(fn() -> &'static BudgetSlot),
    /// `#[rate_limit]`.
    RateLimit(fn() -> &'static RateLimiterSlot),
    /// `#[hedge]`.
    Hedge(fn() -> &'static HedgeSlot),
    /// `#[cache]`.
    Cache(fn() -> &'static CacheSlot),
}

inventory::collect!(Site);

/// Puts every declared instance in the process-wide registry, with the settings applied to
/// its name (a site that takes its instance by name alone waits for whoever configures it).
pub(super) fn materialize(registry: &Registry) {
    for site in inventory::iter::<Site> {
        match site {
            Site::CircuitBreaker(slot) => {
                if slot().source() != Source::ByName {
                    slot().get();
                }
            }
            Site::Bulkhead(slot) => {
                slot().get();
            }
            Site::Retry(policy) => {
                policy().first_registration();
                registry.add_retry(policy());
            }
            Site::RetryBudget(slot) => {
                slot().get();
            }
            Site::RateLimit(slot) => {
                slot().get();
            }
            Site::Hedge(slot) => {
                slot().get();
            }
            Site::Cache(slot) => {
                slot().get();
            }
        }
    }
}

/// A declared breaker named `name` that is not created yet, with the settings it would be
/// created with.
pub(super) fn declared_breaker(name: &str) -> Option<BreakerConfig> {
    inventory::iter::<Site>
        .into_iter()
        .find_map(|site| match site {
            Site::CircuitBreaker(slot) if slot().config().name() == name => Some(*slot().config()),
            _ => None,
        })
}

/// A declared bulkhead named `name`.
pub(super) fn declared_bulkhead(name: &str) -> Option<BulkheadConfig> {
    inventory::iter::<Site>
        .into_iter()
        .find_map(|site| match site {
            Site::Bulkhead(slot) if slot().config().name() == name => Some(*slot().config()),
            _ => None,
        })
}

/// A declared rate limiter named `name`.
pub(super) fn declared_rate_limiter(name: &str) -> Option<RateLimitConfig> {
    inventory::iter::<Site>
        .into_iter()
        .find_map(|site| match site {
            Site::RateLimit(slot) if slot().config().name() == name => Some(*slot().config()),
            _ => None,
        })
}

/// A declared hedge named `name`.
pub(super) fn declared_hedge(name: &str) -> Option<HedgeConfig> {
    inventory::iter::<Site>
        .into_iter()
        .find_map(|site| match site {
            Site::Hedge(slot) if slot().config().name() == name => Some(*slot().config()),
            _ => None,
        })
}

/// A declared cache named `name`.
pub(super) fn declared_cache(name: &str) -> Option<CacheConfig> {
    inventory::iter::<Site>
        .into_iter()
        .find_map(|site| match site {
            Site::Cache(slot) if slot().config().name() == name => Some(*slot().config()),
            _ => None,
        })
}

/// The declared `#[retry]` policies named `name`.
pub(super) fn declared_retries(name: &str) -> Vec<&'static RetryPolicy> {
    inventory::iter::<Site>
        .into_iter()
        .filter_map(|site| match site {
            Site::Retry(policy) if policy().name() == name => Some(policy()),
            _ => None,
        })
        .collect()
}

/// A declared retry budget named `name`, with the defaults it would be created with.
pub(super) fn declared_budget(name: &str) -> Option<BudgetConfig> {
    inventory::iter::<Site>
        .into_iter()
        .find_map(|site| match site {
            Site::RetryBudget(slot) if slot().config().name() == name => Some(*slot().config()),
            _ => None,
        })
}

/// The names of every declared site of `kind`.
pub(super) fn declared_names(kind: InstanceKind) -> Vec<&'static str> {
    inventory::iter::<Site>
        .into_iter()
        .filter_map(|site| match (site, kind) {
            (Site::CircuitBreaker(slot), InstanceKind::CircuitBreaker) => {
                Some(slot().config().name())
            }
            (Site::Bulkhead(slot), InstanceKind::Bulkhead) => Some(slot().config().name()),
            (Site::Retry(policy), InstanceKind::Retry) => Some(policy().name()),
            (Site::RetryBudget(slot), InstanceKind::RetryBudget) => Some(slot().config().name()),
            (Site::RateLimit(slot), InstanceKind::RateLimit) => Some(slot().config().name()),
            (Site::Hedge(slot), InstanceKind::Hedge) => Some(slot().config().name()),
            (Site::Cache(slot), InstanceKind::Cache) => Some(slot().config().name()),
            _ => None,
        })
        .collect()
}
