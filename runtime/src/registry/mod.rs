//! Registries of named breakers, bulkheads, retry policies and budgets: the process-wide one
//! that the attributes use, and any a program makes for itself (tests, tenants).

mod shared;
mod slots;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::breaker::{BreakerConfig, BreakerMetrics, CircuitBreaker};
use crate::bulkhead::{Bulkhead, BulkheadConfig, BulkheadMetrics};
use crate::observe::{self, Event, InstanceKind};
use crate::retry::{BudgetConfig, BudgetMetrics, RetryBudget};
use crate::retry::{RetryConfig, RetryMetrics, RetryPolicy};
use tokio::sync::broadcast;

pub use self::slots::{BreakerSlot, BudgetSlot, BulkheadSlot};

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
}

#[derive(Debug, Default)]
struct Instances {
    breakers: BTreeMap<&'static str, &'static CircuitBreaker>,
    bulkheads: BTreeMap<&'static str, &'static Bulkhead>,
    retries: BTreeMap<&'static str, &'static RetryPolicy>,
    budgets: BTreeMap<&'static str, &'static RetryBudget>,
    /// The call site holding each default name, by kind.
    sites: BTreeMap<(InstanceKind, &'static str), usize>,
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
                sites: BTreeMap::new(),
            }),
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

    /// The retry budget named `name`, if one was created here.
    #[must_use]
    pub fn retry_budget(&self, name: &str) -> Option<&'static RetryBudget> {
        self.lock().budgets.get(name).copied()
    }

    /// The retry policy named `name`: one made by `Retry::build_shared`, or a `#[retry]`
    /// function's (named as the function unless `name` says otherwise) once it has retried.
    #[must_use]
    pub fn retry(&self, name: &str) -> Option<&'static RetryPolicy> {
        self.lock().retries.get(name).copied()
    }

    fn lock(&self) -> MutexGuard<'_, Instances> {
        // The maps stay consistent whatever panicked while they were locked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The breaker named in `config`, created on first use. A later use with other settings
    /// keeps the first settings and logs an error.
    pub(crate) fn breaker_or_insert(&self, config: &BreakerConfig) -> &'static CircuitBreaker {
        let breaker = self.breaker_or_default(config);
        if breaker.created_config() != *config {
            observe::settings_conflict(
                breaker.hub(),
                InstanceKind::CircuitBreaker,
                config.name(),
                &breaker.created_config(),
                config,
            );
        }
        breaker
    }

    /// The breaker of that name, whatever its settings; created with `defaults` if there is
    /// none yet.
    pub(crate) fn breaker_or_default(&self, defaults: &BreakerConfig) -> &'static CircuitBreaker {
        self.lock()
            .breakers
            .entry(defaults.name())
            .or_insert_with(|| Box::leak(Box::new(CircuitBreaker::new(*defaults))))
    }

    /// The bulkhead named in `config`, created on first use (conflicts as for breakers).
    pub(crate) fn bulkhead_or_insert(&self, config: &BulkheadConfig) -> &'static Bulkhead {
        let mut instances = self.lock();
        let bulkhead = *instances
            .bulkheads
            .entry(config.name())
            .or_insert_with(|| Box::leak(Box::new(Bulkhead::with_config(*config))));
        if bulkhead.created_config() != *config {
            observe::settings_conflict(
                bulkhead.hub(),
                InstanceKind::Bulkhead,
                config.name(),
                &bulkhead.created_config(),
                config,
            );
        }
        bulkhead
    }

    /// The retry policy named in `config`, created on first use (conflicts as for breakers).
    pub(crate) fn retry_or_insert(&self, config: &RetryConfig) -> &'static RetryPolicy {
        let mut instances = self.lock();
        let policy = *instances
            .retries
            .entry(config.name())
            .or_insert_with(|| Box::leak(Box::new(RetryPolicy::new(*config))));
        if policy.created_config() != *config {
            observe::settings_conflict(
                policy.hub(),
                InstanceKind::Retry,
                config.name(),
                &policy.created_config(),
                config,
            );
        }
        policy
    }

    /// The retry budget named in `config`, created on first use (conflicts as for breakers).
    pub(crate) fn budget_or_insert(&self, config: &BudgetConfig) -> &'static RetryBudget {
        let mut instances = self.lock();
        let budget = *instances
            .budgets
            .entry(config.name())
            .or_insert_with(|| Box::leak(Box::new(RetryBudget::new(*config))));
        if budget.config() != config && *config != BudgetConfig::default_for(config.name()) {
            observe::settings_conflict(
                budget.hub(),
                InstanceKind::RetryBudget,
                config.name(),
                budget.config(),
                config,
            );
        }
        budget
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

    pub(crate) fn add_retry(&self, policy: &'static RetryPolicy) {
        // The first of a name stays: a lookup keeps finding the policy it found before.
        self.lock().retries.entry(policy.name()).or_insert(policy);
    }

    /// Every instance with its kind, state and counters, sorted by kind and name.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let instances = self.lock();
        let breakers = instances.breakers.iter().map(|(name, b)| Instance {
            name,
            detail: Detail::CircuitBreaker(b.metrics()),
        });
        let bulkheads = instances.bulkheads.iter().map(|(name, b)| Instance {
            name,
            detail: Detail::Bulkhead(b.metrics()),
        });
        let retries = instances.retries.iter().map(|(name, r)| Instance {
            name,
            detail: Detail::Retry(r.metrics()),
        });
        let budgets = instances.budgets.iter().map(|(name, b)| Instance {
            name,
            detail: Detail::RetryBudget(b.metrics()),
        });
        Snapshot {
            instances: breakers
                .chain(bulkheads)
                .chain(retries)
                .chain(budgets)
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
    /// Breakers, bulkheads, retry policies that have retried, then retry budgets.
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
}
