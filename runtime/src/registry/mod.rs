//! Registries of named breakers, bulkheads, retry policies and budgets, rate limiters, hedges
//! and caches: the process-wide one
//! that the attributes use, and any a program makes for itself (tests, tenants).

mod apply;
mod create;
mod layers;
mod shared;
mod sites;
mod slots;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use self::layers::Layers;
use crate::breaker::{BreakerMetrics, CircuitBreaker};
use crate::bulkhead::{Bulkhead, BulkheadMetrics};
use crate::cache::{Cache, CacheMetrics};
use crate::hedge::{Hedge, HedgeMetrics};
use crate::observe::{self, Event, InstanceKind};
use crate::rate_limit::{RateLimiter, RateLimiterMetrics};
use crate::retry::{BudgetMetrics, RetryBudget, RetryMetrics, RetryPolicy};
use crate::settings::InstanceSettings;
use tokio::sync::broadcast;

#[cfg(feature = "config")]
pub(crate) use self::apply::known_names;
pub use self::sites::Site;

pub use self::slots::{
    BreakerSlot, BudgetSlot, BulkheadSlot, CacheSlot, HedgeSlot, RateLimiterSlot,
};

/// Named instances. The attributes use the process-wide one, [`crate::registry()`]; a program
/// can keep others, in `static`s, for instances apart from it (a test's, a tenant's), filled
/// with the builders' `build_shared_in`. Instances live as long as the process, so handles
/// are plain `&'static` references and call sites resolve their instance once.
///
/// ```
/// use staunch::{CircuitBreaker, Registry};
///
/// static TENANT: Registry = Registry::new();
///
/// let breaker = CircuitBreaker::builder("docs-tenant-db").build_shared_in(&TENANT).unwrap();
/// assert!(std::ptr::eq(breaker, TENANT.breaker("docs-tenant-db").unwrap()));
/// assert!(staunch::registry().breaker("docs-tenant-db").is_none(), "not the process's");
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Instances>,
    /// Serializes applying settings, which reconfigures instances outside `inner`'s lock.
    applying: Mutex<()>,
}

#[derive(Debug, Default)]
struct Instances {
    breakers: BTreeMap<&'static str, &'static CircuitBreaker>,
    bulkheads: BTreeMap<&'static str, &'static Bulkhead>,
    /// Every policy of a name: each `#[retry]` function keeps its own.
    retries: BTreeMap<&'static str, Vec<&'static RetryPolicy>>,
    budgets: BTreeMap<&'static str, &'static RetryBudget>,
    rate_limiters: BTreeMap<&'static str, &'static RateLimiter>,
    hedges: BTreeMap<&'static str, &'static Hedge>,
    caches: BTreeMap<&'static str, &'static Cache>,
    /// The settings over each named instance's own.
    layers: BTreeMap<(InstanceKind, &'static str), Layers>,
    /// The call site holding each default name, by kind.
    sites: BTreeMap<(InstanceKind, &'static str), usize>,
    /// Bumped each time settings are applied: an instance put in force from layers read
    /// before is put again.
    generation: u64,
    /// The store the breakers share their state through, and which of them.
    sharing: Option<Sharing>,
}

#[derive(Debug)]
struct Sharing {
    store: std::sync::Arc<dyn crate::BreakerStore>,
    which: SharedBreakers,
}

/// Which breakers share their state through a store (see [`Registry::share_breakers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedBreakers {
    /// Every breaker of the registry, those created later included.
    Every,
    /// The breakers of these names, whenever they are created.
    Named(Vec<String>),
}

impl SharedBreakers {
    fn includes(&self, name: &str) -> bool {
        match self {
            Self::Every => true,
            Self::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// The process-wide registry.
pub fn global() -> &'static Registry {
    static REGISTRY: Registry = Registry::new();
    &REGISTRY
}

/// The breaker named `name`, if one was created.
///
/// ```
/// use staunch::{CircuitBreaker, CircuitState};
///
/// CircuitBreaker::builder("docs-payments").build_shared().unwrap();
/// let payments = staunch::breaker("docs-payments").unwrap();
/// payments.force_open();
/// assert_eq!(payments.state(), CircuitState::ForcedOpen);
/// assert!(staunch::breaker("no-such-breaker").is_none());
/// ```
#[must_use]
pub fn breaker(name: &str) -> Option<&'static CircuitBreaker> {
    global().breaker(name)
}

/// The bulkhead named `name`, if one was created: [`Registry::bulkhead`] of the process-wide
/// registry.
///
/// ```
/// use std::time::Duration;
/// use staunch::Bulkhead;
///
/// Bulkhead::builder(8).name("docs-inventory").build_shared().unwrap();
/// assert_eq!(staunch::bulkhead("docs-inventory").unwrap().metrics().limit, 8);
/// ```
#[must_use]
pub fn bulkhead(name: &str) -> Option<&'static Bulkhead> {
    global().bulkhead(name)
}

/// The rate limiter named `name`, if one was created: [`Registry::rate_limiter`] of the
/// process-wide registry.
///
/// ```
/// use std::time::Duration;
/// use staunch::RateLimiter;
///
/// RateLimiter::builder(100, Duration::from_secs(1)).name("docs-search").build_shared().unwrap();
/// assert_eq!(staunch::rate_limiter("docs-search").unwrap().config().calls(), 100);
/// ```
#[must_use]
pub fn rate_limiter(name: &str) -> Option<&'static RateLimiter> {
    global().rate_limiter(name)
}

/// The cache named `name`, if one was created: [`Registry::cache`] of the process-wide
/// registry.
///
/// ```
/// use std::time::Duration;
/// use staunch::Cache;
///
/// Cache::builder(Duration::from_secs(30)).name("docs-named-cache").build_shared().unwrap();
/// assert_eq!(staunch::cache("docs-named-cache").unwrap().config().ttl(), Duration::from_secs(30));
/// ```
#[must_use]
pub fn cache(name: &str) -> Option<&'static Cache> {
    global().cache(name)
}

/// The hedge named `name`, if one was created: [`Registry::hedge`] of the process-wide
/// registry.
///
/// ```
/// use staunch::Hedge;
///
/// Hedge::builder().name("docs-hedged-search").max(3).build_shared().unwrap();
/// assert_eq!(staunch::hedge("docs-hedged-search").unwrap().config().max(), 3);
/// ```
#[must_use]
pub fn hedge(name: &str) -> Option<&'static Hedge> {
    global().hedge(name)
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            inner: Mutex::new(Instances {
                breakers: BTreeMap::new(),
                bulkheads: BTreeMap::new(),
                retries: BTreeMap::new(),
                budgets: BTreeMap::new(),
                rate_limiters: BTreeMap::new(),
                hedges: BTreeMap::new(),
                caches: BTreeMap::new(),
                sharing: None,
                layers: BTreeMap::new(),
                sites: BTreeMap::new(),
                generation: 0,
            }),
            applying: Mutex::new(()),
        }
    }

    /// The breaker named `name`, if one was created here.
    #[must_use]
    pub fn breaker(&self, name: &str) -> Option<&'static CircuitBreaker> {
        self.lock().breakers.get(name).copied()
    }

    /// The bulkhead named `name`, if one was created here.
    #[must_use]
    pub fn bulkhead(&self, name: &str) -> Option<&'static Bulkhead> {
        self.lock().bulkheads.get(name).copied()
    }

    /// The rate limiter named `name`, if one was created here.
    #[must_use]
    pub fn rate_limiter(&self, name: &str) -> Option<&'static RateLimiter> {
        self.lock().rate_limiters.get(name).copied()
    }

    /// Shares the state of the breakers `which` names through `store`: those that exist now,
    /// and each created later. Returns the names of the breakers it attached now.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use staunch::circuit_breaker::{BreakerStore, Record};
    /// use staunch::registry::SharedBreakers;
    /// use staunch::{CircuitBreaker, Registry};
    ///
    /// #[derive(Debug, Default)]
    /// struct Queue(Mutex<Vec<&'static str>>);
    ///
    /// impl BreakerStore for Queue {
    ///     fn record(&self, breaker: &'static str, _record: Record) {
    ///         self.0.lock().unwrap().push(breaker);
    ///     }
    /// }
    ///
    /// static FLEET: Registry = Registry::new();
    /// let queue = Arc::new(Queue::default());
    /// FLEET.share_breakers(queue.clone(), SharedBreakers::Named(vec!["payments".into()])).unwrap();
    /// let payments = CircuitBreaker::builder("payments").build_shared_in(&FLEET).unwrap();
    /// assert!(payments.is_shared(), "created after, shared all the same");
    /// payments.force_open();
    /// assert_eq!(*queue.0.lock().unwrap(), ["payments"]);
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`](crate::ConfigError::Conflict) when the registry's breakers
    /// already share through a store; nothing changes.
    pub fn share_breakers(
        &self,
        store: std::sync::Arc<dyn crate::BreakerStore>,
        which: SharedBreakers,
    ) -> Result<Vec<&'static str>, crate::ConfigError> {
        let mut instances = self.lock();
        if instances.sharing.is_some() {
            return Err(crate::ConfigError::Conflict(
                "store",
                "the store the registry's breakers share through",
            ));
        }
        let attached: Vec<&'static CircuitBreaker> = instances
            .breakers
            .values()
            .copied()
            .filter(|b| which.includes(b.name()) && !b.is_shared())
            .collect();
        instances.sharing = Some(Sharing {
            store: std::sync::Arc::clone(&store),
            which,
        });
        drop(instances);
        for breaker in &attached {
            // Not shared yet, checked above; a breaker shared meanwhile keeps its own store.
            let _ = breaker.share_through(std::sync::Arc::clone(&store));
        }
        Ok(attached.iter().map(|b| b.name()).collect())
    }

    /// A breaker just created (or found): shared, if the registry's sharing names it.
    pub(crate) fn attach(&self, breaker: &'static CircuitBreaker) {
        if breaker.is_shared() {
            return;
        }
        let store = self
            .lock()
            .sharing
            .as_ref()
            .filter(|s| s.which.includes(breaker.name()))
            .map(|s| std::sync::Arc::clone(&s.store));
        if let Some(store) = store {
            let _ = breaker.share_through(store);
        }
    }

    /// The breakers whose state is shared through the registry's store.
    #[cfg(feature = "redis")]
    pub(crate) fn shared_breakers(&self) -> Vec<&'static CircuitBreaker> {
        self.lock()
            .breakers
            .values()
            .copied()
            .filter(|b| b.is_shared())
            .collect()
    }

    /// The cache named `name`, if one was created here.
    #[must_use]
    pub fn cache(&self, name: &str) -> Option<&'static Cache> {
        self.lock().caches.get(name).copied()
    }

    /// The hedge named `name`, if one was created here.
    #[must_use]
    pub fn hedge(&self, name: &str) -> Option<&'static Hedge> {
        self.lock().hedges.get(name).copied()
    }

    /// The retry budget named `name`, if one was created here.
    #[must_use]
    pub fn retry_budget(&self, name: &str) -> Option<&'static RetryBudget> {
        self.lock().budgets.get(name).copied()
    }

    /// The retry policy named `name`: one made by `Retry::build_shared`, or a `#[retry]`
    /// function's (named as the function unless `name` says otherwise) once settings were
    /// applied or it has failed. Several `#[retry]` functions of one name each keep a policy
    /// of their own (settings reach all of them); this is the first.
    #[must_use]
    pub fn retry(&self, name: &str) -> Option<&'static RetryPolicy> {
        self.lock()
            .retries
            .get(name)
            .and_then(|policies| policies.first().copied())
    }

    fn lock(&self) -> MutexGuard<'_, Instances> {
        // The maps stay consistent whatever panicked while they were locked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of every [`Event`] of every instance of the process from now on: one stream
    /// for a dashboard or an exporter (a program's own registries included: the stream is the
    /// process's). Each instance's own `subscribe()` gives its events alone.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use staunch::{CircuitBreaker, CircuitState, Event};
    ///
    /// let mut events = staunch::registry().subscribe();
    /// let breaker = CircuitBreaker::builder("docs-events").build_shared().unwrap();
    /// breaker.force_open();
    /// let event = loop {
    ///     // Other instances of the process report here too.
    ///     let event = events.recv().await.unwrap();
    ///     if event.name() == "docs-events" {
    ///         break event;
    ///     }
    /// };
    /// assert_eq!(
    ///     event,
    ///     Event::Transition { name: "docs-events", from: CircuitState::Closed, to: CircuitState::ForcedOpen }
    /// );
    /// # }
    /// ```
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        observe::everything().subscribe()
    }

    /// The name call site `site` gets for its own instance of `kind`: `name`, unless another
    /// site holds it, then `name#2`, `name#3`... The same site always gets the same name.
    pub(crate) fn claim(
        &self,
        kind: InstanceKind,
        name: &'static str,
        site: usize,
    ) -> &'static str {
        let mut instances = self.lock();
        let mut candidate = name;
        for n in 2.. {
            match instances.sites.get(&(kind, candidate)) {
                Some(holder) if *holder != site => {
                    candidate = Box::leak(format!("{name}#{n}").into_boxed_str());
                }
                _ => break,
            }
        }
        instances.sites.insert((kind, candidate), site);
        candidate
    }

    /// Every instance with its kind, state, counters and settings in force, sorted by kind
    /// and name.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let instances = self.lock();
        let breakers = instances.breakers.iter().map(|(name, b)| Instance {
            name,
            detail: Detail::CircuitBreaker(b.metrics()),
            settings: layers::in_force(*b),
        });
        let bulkheads = instances.bulkheads.iter().map(|(name, b)| Instance {
            name,
            detail: Detail::Bulkhead(b.metrics()),
            settings: layers::in_force(*b),
        });
        let retries = instances.retries.iter().filter_map(|(name, policies)| {
            let first = policies.first()?;
            let metrics = policies.iter().fold(RetryMetrics::default(), |sum, p| {
                let m = p.metrics();
                RetryMetrics {
                    retries: sum.retries + m.retries,
                    exhausted: sum.exhausted + m.exhausted,
                }
            });
            Some(Instance {
                name,
                detail: Detail::Retry(metrics),
                settings: layers::in_force(*first),
            })
        });
        let budgets = instances.budgets.iter().map(|(name, b)| Instance {
            name,
            detail: Detail::RetryBudget(b.metrics()),
            settings: layers::in_force(*b),
        });
        let rate_limiters = instances.rate_limiters.iter().map(|(name, r)| Instance {
            name,
            detail: Detail::RateLimit(r.metrics()),
            settings: layers::in_force(*r),
        });
        let hedges = instances.hedges.iter().map(|(name, h)| Instance {
            name,
            detail: Detail::Hedge(h.metrics()),
            settings: layers::in_force(*h),
        });
        let caches = instances.caches.iter().map(|(name, c)| Instance {
            name,
            detail: Detail::Cache(c.metrics()),
            settings: layers::in_force(*c),
        });
        Snapshot {
            instances: breakers
                .chain(bulkheads)
                .chain(retries)
                .chain(budgets)
                .chain(rate_limiters)
                .chain(hedges)
                .chain(caches)
                .collect(),
        }
    }
}

/// The state of every instance at one moment, for health endpoints and dashboards.
///
/// ```
/// use staunch::{CircuitBreaker, Detail};
///
/// CircuitBreaker::builder("docs-snapshot").build_shared().unwrap();
/// let snapshot = staunch::registry().snapshot();
/// let entry = snapshot.instances.iter().find(|i| i.name == "docs-snapshot").unwrap();
/// assert!(matches!(entry.detail, Detail::CircuitBreaker(_)));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot {
    /// Breakers, bulkheads, retry policies (a `#[retry]` function's once settings were
    /// applied or it has failed), retry budgets, rate limiters, hedges, then caches.
    pub instances: Vec<Instance>,
}

/// One named instance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Instance {
    /// Its name.
    pub name: &'static str,
    /// Its kind, state and counters.
    #[serde(flatten)]
    pub detail: Detail,
    /// Its settings in force, under the options' names: what a settings file takes back.
    pub settings: InstanceSettings,
}

/// The kind of an instance, with its counters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// A circuit breaker.
    CircuitBreaker(BreakerMetrics),
    /// A bulkhead.
    Bulkhead(BulkheadMetrics),
    /// A retry policy.
    Retry(RetryMetrics),
    /// A retry budget.
    RetryBudget(BudgetMetrics),
    /// A rate limiter.
    RateLimit(RateLimiterMetrics),
    /// A hedge.
    Hedge(HedgeMetrics),
    /// A cache.
    Cache(CacheMetrics),
}
