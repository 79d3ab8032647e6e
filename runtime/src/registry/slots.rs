//! The instances of the call sites that the attributes generate: each resolves its named
//! instance in the registry on first use, then costs one atomic load.

use std::sync::OnceLock;

use super::create::Source;
use super::global;
use crate::observe::InstanceKind;
use crate::{
    BreakerConfig, BudgetConfig, Bulkhead, BulkheadConfig, Cache, CacheConfig, CircuitBreaker,
    Hedge, HedgeConfig, RateLimitConfig, RateLimiter, RetryBudget,
};

/// How a call site names its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// `name = "..."` with settings: shared by every site giving that name.
    Named,
    /// `name = "..."` alone: whatever the named instance was configured with wins.
    ByName,
    /// No `name`: the instance is this site's own, under its default name (`module::function`,
    /// `module::Type::method`), suffixed `#2`, `#3`... if another site holds that name.
    Unnamed,
}

impl Naming {
    fn source(self) -> Source {
        match self {
            Self::ByName => Source::ByName,
            Self::Named | Self::Unnamed => Source::Attribute,
        }
    }
}

/// A call site's breaker: resolved in the registry on first use, then one atomic load.
#[derive(Debug)]
pub struct BreakerSlot {
    config: BreakerConfig,
    naming: Naming,
    breaker: OnceLock<&'static CircuitBreaker>,
}

impl BreakerSlot {
    /// A slot for `#[circuit_breaker(name = "...", settings...)]`.
    #[must_use]
    pub const fn new(config: BreakerConfig) -> Self {
        Self::with(config, Naming::Named)
    }

    /// A slot for `#[circuit_breaker(name = "...")]` with no settings: it takes the breaker of
    /// that name as configured elsewhere (or the defaults, if it uses the name first).
    #[must_use]
    pub const fn by_name(config: BreakerConfig) -> Self {
        Self::with(config, Naming::ByName)
    }

    /// A slot for `#[circuit_breaker]` without `name`: a breaker of its own.
    #[must_use]
    pub const fn unnamed(config: BreakerConfig) -> Self {
        Self::with(config, Naming::Unnamed)
    }

    const fn with(config: BreakerConfig, naming: Naming) -> Self {
        Self {
            config,
            naming,
            breaker: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static CircuitBreaker {
        self.breaker
            .get_or_init(|| self.resolve(self.config.name()))
    }

    /// The breaker of an unnamed method's call site: `owner` names `Self`, which qualifies the
    /// default name (`module::Type::method`).
    #[inline]
    pub fn get_in(&self, owner: fn() -> &'static str) -> &'static CircuitBreaker {
        self.breaker
            .get_or_init(|| self.resolve(qualified(self.config.name(), owner())))
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self, name: &'static str) -> &'static CircuitBreaker {
        let registry = global();
        let name = match self.naming {
            Naming::Unnamed => registry.claim(InstanceKind::CircuitBreaker, name, site(self)),
            Naming::Named | Naming::ByName => name,
        };
        registry.breaker_or_insert(&self.config.with_name(name), self.naming.source())
    }

    /// The settings the site was written with.
    pub(crate) fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// How the site names its breaker.
    pub(crate) fn source(&self) -> Source {
        self.naming.source()
    }
}

/// A call site, told apart from others by its slot's address (a `static`).
fn site<T>(slot: &T) -> usize {
    std::ptr::from_ref(slot) as usize
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

/// A call site's slot for a kind of named instance that is `name = "..."` or the site's own
/// (no settings-free use by name): resolved like [`BreakerSlot`].
macro_rules! named_slot {
    ($(#[$doc:meta])* $slot:ident, $attribute:literal, $instance:ty, $config:ty, $kind:expr, $or_insert:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $slot {
            config: $config,
            naming: Naming,
            instance: OnceLock<&'static $instance>,
        }

        impl $slot {
            #[doc = concat!("A slot for `#[", $attribute, "(name = \"...\", ...)]`.")]
            #[must_use]
            pub const fn new(config: $config) -> Self {
                Self {
                    config,
                    naming: Naming::Named,
                    instance: OnceLock::new(),
                }
            }

            #[doc = concat!("A slot for `#[", $attribute, "]` without `name`: an instance of its own.")]
            #[must_use]
            pub const fn unnamed(config: $config) -> Self {
                Self {
                    config,
                    naming: Naming::Unnamed,
                    instance: OnceLock::new(),
                }
            }

            #[inline]
            pub fn get(&self) -> &'static $instance {
                self.instance
                    .get_or_init(|| self.resolve(self.config.name()))
            }

            /// The instance of an unnamed method's call site, named as [`BreakerSlot::get_in`]
            /// says.
            #[inline]
            pub fn get_in(&self, owner: fn() -> &'static str) -> &'static $instance {
                self.instance
                    .get_or_init(|| self.resolve(qualified(self.config.name(), owner())))
            }

            #[cold]
            #[inline(never)]
            fn resolve(&self, name: &'static str) -> &'static $instance {
                let registry = global();
                let name = match self.naming {
                    Naming::Unnamed => registry.claim($kind, name, site(self)),
                    Naming::Named | Naming::ByName => name,
                };
                registry.$or_insert(&self.config.with_name(name), self.naming.source())
            }

            /// The settings the site was written with.
            pub(crate) fn config(&self) -> &$config {
                &self.config
            }
        }
    };
}

named_slot!(
    /// A call site's bulkhead.
    BulkheadSlot, "bulkhead", Bulkhead, BulkheadConfig, InstanceKind::Bulkhead, bulkhead_or_insert
);
named_slot!(
    /// A call site's rate limiter.
    RateLimiterSlot, "rate_limit", RateLimiter, RateLimitConfig, InstanceKind::RateLimit,
    rate_limiter_or_insert
);
named_slot!(
    /// A call site's hedge.
    HedgeSlot, "hedge", Hedge, HedgeConfig, InstanceKind::Hedge, hedge_or_insert
);
named_slot!(
    /// A call site's cache.
    CacheSlot, "cache", Cache, CacheConfig, InstanceKind::Cache, cache_or_insert
);

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
            .get_or_init(|| global().budget_or_insert(&self.config, Source::ByName))
    }

    /// The defaults the budget is created with, if nothing else creates it first.
    pub(crate) fn config(&self) -> &BudgetConfig {
        &self.config
    }
}
