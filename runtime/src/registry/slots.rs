//! The instances of the call sites that the attributes generate: each resolves its named
//! instance in the registry on first use, then costs one atomic load.

use std::sync::OnceLock;

use super::global;
use crate::{BreakerConfig, BudgetConfig, Bulkhead, BulkheadConfig, CircuitBreaker, RetryBudget};

/// A call site's breaker: resolved in the registry on first use, then one atomic load.
#[derive(Debug)]
pub struct BreakerSlot {
    config: BreakerConfig,
    /// Settings given only by name: whatever the named breaker was configured with wins.
    by_name: bool,
    breaker: OnceLock<&'static CircuitBreaker>,
}

impl BreakerSlot {
    #[must_use]
    pub const fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            by_name: false,
            breaker: OnceLock::new(),
        }
    }

    /// A slot for `#[circuit_breaker(name = "...")]` with no settings: it takes the breaker of
    /// that name as configured elsewhere (or the defaults, if it uses the name first).
    #[must_use]
    pub const fn by_name(config: BreakerConfig) -> Self {
        Self {
            config,
            by_name: true,
            breaker: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static CircuitBreaker {
        self.breaker.get_or_init(|| self.resolve(self.config))
    }

    /// The breaker of an unnamed method's call site: `owner` names `Self`, which qualifies the
    /// default name (`module::Type::method`).
    #[inline]
    pub fn get_in(&self, owner: fn() -> &'static str) -> &'static CircuitBreaker {
        self.breaker.get_or_init(|| {
            let name = qualified(self.config.name(), owner());
            self.resolve(self.config.with_name(name))
        })
    }

    fn resolve(&self, config: BreakerConfig) -> &'static CircuitBreaker {
        let registry = global();
        if self.by_name {
            registry.breaker_or_default(&config)
        } else {
            registry.breaker_or_insert(&config)
        }
    }
}

/// `module::method` with the owner's type inserted: `module::Type::method`. The type is the
/// last segment of its path, without generic arguments, or the whole type name when that is
/// not a plain path (`&T`, tuples, trait objects). Leaked once per call site.
fn qualified(name: &str, owner: &str) -> &'static str {
    let path = owner.split('<').next().unwrap_or(owner);
    let plain = path
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == ':');
    let ty = if plain {
        path.rsplit("::").next().unwrap_or(path)
    } else {
        owner
    };
    let qualified = match name.rsplit_once("::") {
        Some((module, function)) => format!("{module}::{ty}::{function}"),
        None => format!("{ty}::{name}"),
    };
    Box::leak(qualified.into_boxed_str())
}

/// A call site's bulkhead, resolved like [`BreakerSlot`].
#[derive(Debug)]
pub struct BulkheadSlot {
    config: BulkheadConfig,
    bulkhead: OnceLock<&'static Bulkhead>,
}

impl BulkheadSlot {
    #[must_use]
    pub const fn new(config: BulkheadConfig) -> Self {
        Self {
            config,
            bulkhead: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static Bulkhead {
        self.bulkhead
            .get_or_init(|| global().bulkhead_or_insert(&self.config))
    }

    /// The bulkhead of an unnamed method's call site, named as [`BreakerSlot::get_in`] says.
    #[inline]
    pub fn get_in(&self, owner: fn() -> &'static str) -> &'static Bulkhead {
        self.bulkhead.get_or_init(|| {
            let name = qualified(self.config.name(), owner());
            global().bulkhead_or_insert(&self.config.with_name(name))
        })
    }
}

/// A call site's retry budget, resolved like [`BreakerSlot`].
#[derive(Debug)]
pub struct BudgetSlot {
    config: BudgetConfig,
    budget: OnceLock<&'static RetryBudget>,
}

impl BudgetSlot {
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self {
            config: BudgetConfig::default_for(name),
            budget: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static RetryBudget {
        self.budget
            .get_or_init(|| global().budget_or_insert(&self.config))
    }
}
