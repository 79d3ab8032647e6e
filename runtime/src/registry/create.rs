//! Named instances entering a registry: created with the settings layered over theirs, or
//! joined by another call site or builder naming them (a conflict is reported with what
//! decided it).

use std::collections::BTreeMap;

use super::layers::{self, Layers, Named};
use super::{Instances, Registry};
use crate::observe;
use crate::{
    BreakerConfig, BudgetConfig, Bulkhead, BulkheadConfig, Cache, CacheConfig, CircuitBreaker,
    Hedge, HedgeConfig, RateLimitConfig, RateLimiter, RetryBudget, RetryConfig, RetryPolicy,
};

/// Who names an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A call site with settings of its own: checked against the instance's.
    Attribute,
    /// A call site with the name alone: takes the instance as it is.
    ByName,
    /// A builder's `build_shared`: its settings go over an attribute's.
    Builder,
}

type Map<T> = fn(&mut Instances) -> &mut BTreeMap<&'static str, &'static T>;

impl Registry {
    /// The breaker named in `config`, created on first use.
    pub(crate) fn breaker_or_insert(
        &self,
        config: &BreakerConfig,
        source: Source,
    ) -> &'static CircuitBreaker {
        let breaker = self.named(config, source, |i| &mut i.breakers);
        self.attach(breaker);
        breaker
    }

    /// The bulkhead named in `config`, created on first use.
    pub(crate) fn bulkhead_or_insert(
        &self,
        config: &BulkheadConfig,
        source: Source,
    ) -> &'static Bulkhead {
        self.named(config, source, |i| &mut i.bulkheads)
    }

    /// The rate limiter named in `config`, created on first use.
    pub(crate) fn rate_limiter_or_insert(
        &self,
        config: &RateLimitConfig,
        source: Source,
    ) -> &'static RateLimiter {
        self.named(config, source, |i| &mut i.rate_limiters)
    }

    /// The hedge named in `config`, created on first use.
    pub(crate) fn hedge_or_insert(&self, config: &HedgeConfig, source: Source) -> &'static Hedge {
        self.named(config, source, |i| &mut i.hedges)
    }

    /// The cache named in `config`, created on first use.
    pub(crate) fn cache_or_insert(&self, config: &CacheConfig, source: Source) -> &'static Cache {
        self.named(config, source, |i| &mut i.caches)
    }

    /// The retry budget named in `config`, created on first use.
    pub(crate) fn budget_or_insert(
        &self,
        config: &BudgetConfig,
        source: Source,
    ) -> &'static RetryBudget {
        self.named(config, source, |i| &mut i.budgets)
    }

    fn named<T: Named>(&self, config: &T::Config, source: Source, map: Map<T>) -> &'static T {
        let name = T::name_of(config);
        let mut instances = self.lock();
        let layers = instances.layers.entry((T::KIND, name)).or_default();
        if layers.created_by.is_none() {
            layers.created_by = Some(source);
        }
        let layers = layers.clone();
        if let Some(existing) = map(&mut instances).get(name).copied() {
            let mut joined = join(existing, config, source, &layers);
            if let Some(built) = joined.built.take() {
                if let Some(entry) = instances.layers.get_mut(&(T::KIND, name)) {
                    entry.built = Some(built);
                }
            }
            let generation = instances.generation;
            drop(instances);
            joined.finish(existing);
            self.catch_up(existing, Some(generation));
            return existing;
        }
        let (in_force, refused) = match layers::over::<T>(config, &layers) {
            Ok(in_force) => (in_force, None),
            Err(error) => (*config, Some(error)),
        };
        let instance: &'static T = Box::leak(Box::new(T::make(*config, in_force)));
        map(&mut instances).insert(name, instance);
        drop(instances);
        if let Some(error) = refused {
            let decided_by = format!(
                "the call site's own settings (the settings over them do not fit it: {error})"
            );
            observe::settings_conflict(
                instance.hub(),
                T::KIND,
                name,
                config,
                &layers_only(&layers),
                &decided_by,
            );
        }
        instance
    }

    /// The retry policy named in `config`, made by a builder: the first of that name if there
    /// is one (a conflict is reported), else a new one with the settings layered over it.
    pub(crate) fn retry_or_insert(&self, config: &RetryConfig) -> &'static RetryPolicy {
        let name = config.name();
        let mut instances = self.lock();
        if let Some(first) = instances.retries.get(name).and_then(|p| p.first().copied()) {
            drop(instances);
            if first.created_config() != *config {
                observe::settings_conflict(
                    first.hub(),
                    RetryPolicy::KIND,
                    name,
                    &first.config(),
                    config,
                    "the policy made first",
                );
            }
            return first;
        }
        let layers = instances
            .layers
            .get(&(RetryPolicy::KIND, name))
            .cloned()
            .unwrap_or_default();
        let in_force = layers::over::<RetryPolicy>(config, &layers).unwrap_or(*config);
        let policy: &'static RetryPolicy =
            Box::leak(Box::new(RetryPolicy::make(*config, in_force)));
        instances.retries.entry(name).or_default().push(policy);
        policy
    }

    /// A `#[retry]` function's policy, entering the registry (once settings are applied, or at
    /// its first failure) with the settings of its name put in force.
    pub(crate) fn add_retry(&self, policy: &'static RetryPolicy) {
        let mut instances = self.lock();
        let policies = instances.retries.entry(policy.name()).or_default();
        if policies.iter().any(|p| std::ptr::eq(*p, policy)) {
            return;
        }
        policies.push(policy);
        drop(instances);
        self.catch_up(policy, None);
    }

    /// Puts in force for `instance` what its layers say, until no settings were applied
    /// meanwhile (since `generation`, if given: layers read then are already in force): a
    /// change applied between reading the layers and putting them is not undone by a stale
    /// put.
    fn catch_up<T: Named>(&self, instance: &T, mut generation: Option<u64>) {
        loop {
            let (layers, now) = {
                let instances = self.lock();
                let key = (T::KIND, T::name_of(&instance.created()));
                (instances.layers.get(&key).cloned(), instances.generation)
            };
            if generation == Some(now) {
                return;
            }
            if let Some(config) = layers.and_then(|l| layers::resolve(instance, &l).ok())
                && config != instance.current()
            {
                instance.put(config);
            }
            generation = Some(now);
        }
    }
}

/// The settings of the layers alone, for a report.
fn layers_only(layers: &Layers) -> serde_json::Value {
    let written = |entry: Option<&crate::settings::Entry>| {
        entry.map(|e| serde_json::to_value(&e.settings).unwrap_or_default())
    };
    serde_json::json!({
        "startup": written(layers.startup.as_ref()),
        "runtime": written(layers.runtime.as_ref()),
    })
}

/// What a call site or builder naming an existing instance leads to.
struct Joined<T: Named> {
    /// A builder's settings to keep as the layer over the instance's own.
    built: Option<crate::settings::InstanceSettings>,
    /// Settings to put in force, once the registry is unlocked.
    put: Option<T::Config>,
    /// A conflict to report: the settings not taken, and what decided.
    conflict: Option<(T::Config, String)>,
}

impl<T: Named> Joined<T> {
    fn finish(self, instance: &T) {
        if let Some(config) = self.put {
            instance.put(config);
        }
        if let Some((ignored, decided_by)) = self.conflict {
            observe::settings_conflict(
                instance.hub(),
                T::KIND,
                T::name_of(&ignored),
                &instance.current(),
                &ignored,
                &decided_by,
            );
        }
    }
}

fn join<T: Named>(existing: &T, config: &T::Config, source: Source, layers: &Layers) -> Joined<T> {
    let mut joined = Joined {
        built: None,
        put: None,
        conflict: None,
    };
    let own = T::settings_of(config).written();
    let first_difference = |with: &T::Config| {
        let other = T::settings_of(with).written();
        own.iter()
            .find(|(key, value)| other.get(*key) != Some(*value))
            .map(|(key, _)| *key)
            .or_else(|| other.keys().find(|key| !own.contains_key(*key)).copied())
    };
    match source {
        Source::ByName => {}
        Source::Attribute => {
            if existing.created() != *config
                && let Some(key) = first_difference(&existing.current())
            {
                joined.conflict = Some((*config, layers.decided_by(key)));
            }
        }
        Source::Builder if layers.created_by == Some(Source::Builder) => {
            if existing.created() != *config {
                joined.conflict = Some((*config, "the build_shared that made it first".to_owned()));
            }
        }
        Source::Builder => {
            let mut with_built = layers.clone();
            with_built.built = Some(T::settings_of(config));
            match layers::resolve(existing, &with_built) {
                Ok(in_force) => {
                    joined.built = with_built.built;
                    joined.put = (in_force != existing.current()).then_some(in_force);
                }
                Err(error) => {
                    joined.conflict = Some((
                        *config,
                        format!(
                            "the call site that used the name first (build_shared's settings cannot replace its own while it runs: {error})"
                        ),
                    ));
                }
            }
        }
    }
    joined
}
