//! Applying settings to named instances: all of them, or none with every reason.

use std::collections::BTreeSet;
use std::sync::PoisonError;

use super::layers::{self, Layers, Named};
use super::{Instances, Registry, global, sites};
use crate::config::ConfigError;
use crate::observe::InstanceKind;
use crate::settings::{Entry, InstanceSettings, SettingError, Settings, SettingsError, Table};
use crate::{Bulkhead, Cache, CircuitBreaker, Hedge, RateLimiter, RetryBudget, RetryPolicy};

/// Which layer settings go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    Startup,
    Runtime,
}

/// A change to make once every change is known to be valid.
type Put = Box<dyn FnOnce()>;

impl Registry {
    /// Applies `settings` as the settings of startup: a file and the environment, read when
    /// the service starts or re-read later. They replace the startup settings applied before
    /// (a key no longer written falls back to `build_shared` or the attribute), below any
    /// change made at run time. Instances created later are created with them.
    ///
    /// Every instance named must exist or be declared by an attribute with its name (the
    /// default name of a free function counts; an unnamed method's instance is known from its
    /// first call).
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::CircuitBreaker;
    /// use staunch::settings::{BreakerSettings, Settings};
    ///
    /// let breaker = CircuitBreaker::builder("docs-configured").fail_max(5).build_shared().unwrap();
    /// let mut settings = Settings::new();
    /// settings.insert("docs-configured", BreakerSettings { fail_max: Some(3), ..Default::default() });
    /// staunch::registry().configure(settings).unwrap();
    /// assert_eq!(breaker.config().trip(), staunch::circuit_breaker::Trip::Consecutive { fail_max: 3 });
    /// ```
    ///
    /// # Errors
    /// [`SettingsError`] listing every unknown instance and every setting refused (with the
    /// file, line and column it was written at, where known); nothing changes.
    pub fn configure(&self, settings: Settings) -> Result<(), SettingsError> {
        self.apply(&settings, Layer::Startup)
    }

    /// Changes settings at run time, key by key over the changes made before: they win over
    /// the settings of startup until the process ends. Call sites that hold their instance
    /// see the change from their next call on; the state that still means something stays
    /// (an open breaker stays open; a bulkhead shrunk below its calls in flight admits none
    /// until under the new limit; a retry already sleeping finishes with the policy it
    /// started with).
    ///
    /// ```
    /// use staunch::Bulkhead;
    /// use staunch::settings::{BulkheadSettings, Settings};
    ///
    /// let bulkhead = Bulkhead::builder(10).name("docs-changed").build_shared().unwrap();
    /// let mut settings = Settings::new();
    /// settings.insert("docs-changed", BulkheadSettings { limit: Some(4), ..Default::default() });
    /// staunch::registry().change(settings).unwrap();
    /// assert_eq!(bulkhead.metrics().limit, 4);
    /// ```
    ///
    /// # Errors
    /// As [`configure`](Self::configure).
    pub fn change(&self, settings: Settings) -> Result<(), SettingsError> {
        self.apply(&settings, Layer::Runtime)
    }

    /// Changes the instance named `name`, of whichever kind, with `table`'s keys (a request
    /// body: `{"fail_max": 3}`), as [`change`](Self::change) does, and returns its settings
    /// now in force.
    ///
    /// ```
    /// use staunch::CircuitBreaker;
    /// use staunch::settings::{InstanceSettings, Table};
    ///
    /// CircuitBreaker::builder("docs-put").build_shared().unwrap();
    /// let table: Table = serde_json::from_str(r#"{"reset": "5s"}"#).unwrap();
    /// let InstanceSettings::CircuitBreaker(now) = staunch::registry().change_instance("docs-put", &table).unwrap() else { panic!() };
    /// assert_eq!(now.reset, Some(std::time::Duration::from_secs(5)));
    ///
    /// let bad: Table = serde_json::from_str(r#"{"rest": "5s", "fail_max": 0}"#).unwrap();
    /// let error = staunch::registry().change_instance("docs-put", &bad).unwrap_err();
    /// assert_eq!(error.errors().len(), 2, "{error}");
    /// ```
    ///
    /// # Errors
    /// [`SettingsError`] for an unknown name, a name that several kinds of instance have, or
    /// any bad key; nothing changes.
    pub fn change_instance(
        &self,
        name: &str,
        table: &Table,
    ) -> Result<InstanceSettings, SettingsError> {
        let kinds: Vec<InstanceKind> = {
            let instances = self.lock();
            InstanceKind::ALL
                .into_iter()
                .filter(|kind| instances.has(*kind, name))
                .collect()
        };
        let kind = match kinds.as_slice() {
            [kind] => *kind,
            [] => {
                let names = self.lock().names(None, std::ptr::eq(self, global()));
                let mut reason = format!("no instance is named `{name}`");
                if let Some(near) = staunch_options::nearest(name, &names) {
                    reason.push_str(&format!("; did you mean `{near}`?"));
                }
                return Err(SettingError::new(reason).into());
            }
            several => {
                let kinds: Vec<&str> = several.iter().map(|k| k.as_str()).collect();
                return Err(SettingError::new(format!(
                    "`{name}` names a {}: change it with `Registry::change` and a kind",
                    kinds.join(" and a ")
                ))
                .into());
            }
        };
        self.change(table.settings(kind, name)?)?;
        self.settings_in_force(kind, name).ok_or_else(|| {
            SettingError::new(format!("no {} is named `{name}`", kind.as_str())).into()
        })
    }

    /// The settings in force of the instance of `kind` named `name`, under the options'
    /// names.
    #[must_use]
    pub fn settings_in_force(&self, kind: InstanceKind, name: &str) -> Option<InstanceSettings> {
        let instances = self.lock();
        Some(match kind {
            InstanceKind::CircuitBreaker => layers::in_force(*instances.breakers.get(name)?),
            InstanceKind::Bulkhead => layers::in_force(*instances.bulkheads.get(name)?),
            InstanceKind::Retry => layers::in_force(*instances.retries.get(name)?.first()?),
            InstanceKind::RetryBudget => layers::in_force(*instances.budgets.get(name)?),
            InstanceKind::RateLimit => layers::in_force(*instances.rate_limiters.get(name)?),
            InstanceKind::Hedge => layers::in_force(*instances.hedges.get(name)?),
            InstanceKind::Cache => layers::in_force(*instances.caches.get(name)?),
        })
    }

    fn apply(&self, settings: &Settings, layer: Layer) -> Result<(), SettingsError> {
        let _applying = self.applying.lock().unwrap_or_else(PoisonError::into_inner);
        let mut instances = self.lock();
        let mut affected: BTreeSet<(InstanceKind, String)> =
            settings.entries.keys().cloned().collect();
        if layer == Layer::Startup {
            // A file re-read without an instance drops its settings.
            affected.extend(
                instances
                    .layers
                    .iter()
                    .filter(|(_, layers)| layers.startup.is_some())
                    .map(|((kind, name), _)| (*kind, (*name).to_owned())),
            );
        }
        let mut errors = Vec::new();
        let mut planned = Vec::new();
        let mut puts: Vec<Put> = Vec::new();
        for (kind, name) in affected {
            let incoming = settings.entries.get(&(kind, name.clone()));
            let Some(known) = instances.known_name(kind, &name) else {
                let names = instances.names(Some(kind), std::ptr::eq(self, global()));
                errors.push(unknown(kind, &name, incoming, &names));
                continue;
            };
            let mut layers = instances
                .layers
                .get(&(kind, known))
                .cloned()
                .unwrap_or_default();
            match layer {
                Layer::Startup => layers.startup = incoming.cloned(),
                Layer::Runtime => {
                    if let Some(incoming) = incoming {
                        match &mut layers.runtime {
                            Some(before) => before.overlay(incoming),
                            None => layers.runtime = Some(incoming.clone()),
                        }
                    }
                }
            }
            match instances.check(kind, known, &layers) {
                Ok(changes) => {
                    puts.extend(changes);
                    planned.push(((kind, known), layers));
                }
                Err(error) => errors.push(layers::refusal(kind, &name, &error, incoming)),
            }
        }
        if !errors.is_empty() {
            return Err(SettingsError::new(errors));
        }
        instances.layers.extend(planned);
        instances.generation += 1;
        drop(instances);
        for put in puts {
            put();
        }
        // The declared instances not created yet are created now, with these settings in
        // force (whatever their shape: nothing ran under another).
        if std::ptr::eq(self, global()) {
            sites::materialize(self);
        }
        Ok(())
    }
}

/// Every name the process-wide registry knows, by kind: its instances, and those the
/// attributes declare.
#[cfg(feature = "config")]
pub(crate) fn known_names() -> Vec<(InstanceKind, &'static str)> {
    let instances = global().lock();
    InstanceKind::ALL
        .into_iter()
        .flat_map(|kind| {
            instances
                .names(Some(kind), true)
                .into_iter()
                .map(move |name| (kind, name))
        })
        .collect()
}

/// The error of an instance that neither exists nor is declared.
fn unknown(
    kind: InstanceKind,
    name: &str,
    incoming: Option<&Entry>,
    names: &[&'static str],
) -> SettingError {
    let what = kind.as_str().replace('_', " ");
    let mut reason = format!("no {what} is named `{name}`");
    if let Some(near) = staunch_options::nearest(name, names) {
        reason.push_str(&format!("; did you mean `{near}`?"));
    } else if names.is_empty() {
        reason.push_str(&format!(" (there is no {what})"));
    } else {
        let listed: Vec<String> = names.iter().take(10).map(|n| format!("`{n}`")).collect();
        let more = if names.len() > 10 { ", ..." } else { "" };
        reason.push_str(&format!(" (known: {}{more})", listed.join(", ")));
    }
    SettingError::new(reason)
        .at(incoming.and_then(|e| e.place(None)))
        .of(kind.as_str(), Some(name), None)
}

impl Instances {
    /// The names known for `kind` (every kind for `None`): created, or declared by a site
    /// when `declared`.
    fn names(&self, kind: Option<InstanceKind>, declared: bool) -> Vec<&'static str> {
        let mut names: BTreeSet<&'static str> = BTreeSet::new();
        for k in InstanceKind::ALL {
            if kind.is_some_and(|kind| kind != k) {
                continue;
            }
            match k {
                InstanceKind::CircuitBreaker => names.extend(self.breakers.keys()),
                InstanceKind::Bulkhead => names.extend(self.bulkheads.keys()),
                InstanceKind::Retry => names.extend(self.retries.keys()),
                InstanceKind::RetryBudget => names.extend(self.budgets.keys()),
                InstanceKind::RateLimit => names.extend(self.rate_limiters.keys()),
                InstanceKind::Hedge => names.extend(self.hedges.keys()),
                InstanceKind::Cache => names.extend(self.caches.keys()),
            }
            if declared {
                names.extend(sites::declared_names(k));
            }
        }
        names.into_iter().collect()
    }

    fn has(&self, kind: InstanceKind, name: &str) -> bool {
        self.known_name(kind, name).is_some()
    }

    /// The name as the registry holds it, if an instance of `kind` has it or a site declares
    /// one (in the process-wide registry).
    fn known_name(&self, kind: InstanceKind, name: &str) -> Option<&'static str> {
        let held = match kind {
            InstanceKind::CircuitBreaker => self.breakers.get_key_value(name).map(|(k, _)| *k),
            InstanceKind::Bulkhead => self.bulkheads.get_key_value(name).map(|(k, _)| *k),
            InstanceKind::Retry => self.retries.get_key_value(name).map(|(k, _)| *k),
            InstanceKind::RetryBudget => self.budgets.get_key_value(name).map(|(k, _)| *k),
            InstanceKind::RateLimit => self.rate_limiters.get_key_value(name).map(|(k, _)| *k),
            InstanceKind::Hedge => self.hedges.get_key_value(name).map(|(k, _)| *k),
            InstanceKind::Cache => self.caches.get_key_value(name).map(|(k, _)| *k),
        };
        held.or_else(|| match kind {
            InstanceKind::CircuitBreaker => sites::declared_breaker(name).map(|c| c.name()),
            InstanceKind::Bulkhead => sites::declared_bulkhead(name).map(|c| c.name()),
            InstanceKind::Retry => sites::declared_retries(name).first().map(|p| p.name()),
            InstanceKind::RetryBudget => sites::declared_budget(name).map(|c| c.name()),
            InstanceKind::RateLimit => sites::declared_rate_limiter(name).map(|c| c.name()),
            InstanceKind::Hedge => sites::declared_hedge(name).map(|c| c.name()),
            InstanceKind::Cache => sites::declared_cache(name).map(|c| c.name()),
        })
    }

    /// What `layers` put in force for the instances of `kind` named `name`, checked: the
    /// changes to make, or why they cannot be.
    fn check(
        &self,
        kind: InstanceKind,
        name: &'static str,
        layers: &Layers,
    ) -> Result<Vec<Put>, ConfigError> {
        fn one<T: Named>(instance: &'static T, layers: &Layers) -> Result<Vec<Put>, ConfigError> {
            let config = layers::resolve(instance, layers)?;
            Ok(if config == instance.current() {
                Vec::new()
            } else {
                vec![Box::new(move || instance.put(config))]
            })
        }
        match kind {
            InstanceKind::CircuitBreaker => match self.breakers.get(name) {
                Some(breaker) => one(*breaker, layers),
                None => sites::declared_breaker(name)
                    .map_or(Ok(()), |c| {
                        layers::over::<CircuitBreaker>(&c, layers).map(drop)
                    })
                    .map(|()| Vec::new()),
            },
            InstanceKind::Bulkhead => match self.bulkheads.get(name) {
                Some(bulkhead) => one(*bulkhead, layers),
                None => sites::declared_bulkhead(name)
                    .map_or(Ok(()), |c| layers::over::<Bulkhead>(&c, layers).map(drop))
                    .map(|()| Vec::new()),
            },
            InstanceKind::Retry => {
                let registered = self.retries.get(name).map_or(&[][..], Vec::as_slice);
                let mut puts = Vec::new();
                for policy in registered {
                    puts.extend(one(*policy, layers)?);
                }
                // A declared policy not registered yet takes them when it registers.
                for policy in sites::declared_retries(name) {
                    if !registered.iter().any(|p| std::ptr::eq(*p, policy)) {
                        layers::over::<RetryPolicy>(&policy.created_config(), layers)?;
                    }
                }
                Ok(puts)
            }
            InstanceKind::RetryBudget => match self.budgets.get(name) {
                Some(budget) => one(*budget, layers),
                None => sites::declared_budget(name)
                    .map_or(Ok(()), |c| {
                        layers::over::<RetryBudget>(&c, layers).map(drop)
                    })
                    .map(|()| Vec::new()),
            },
            InstanceKind::RateLimit => match self.rate_limiters.get(name) {
                Some(limiter) => one(*limiter, layers),
                None => sites::declared_rate_limiter(name)
                    .map_or(Ok(()), |c| {
                        layers::over::<RateLimiter>(&c, layers).map(drop)
                    })
                    .map(|()| Vec::new()),
            },
            InstanceKind::Hedge => match self.hedges.get(name) {
                Some(hedge) => one(*hedge, layers),
                None => sites::declared_hedge(name)
                    .map_or(Ok(()), |c| layers::over::<Hedge>(&c, layers).map(drop))
                    .map(|()| Vec::new()),
            },
            InstanceKind::Cache => match self.caches.get(name) {
                Some(cache) => one(*cache, layers),
                None => sites::declared_cache(name)
                    .map_or(Ok(()), |c| layers::over::<Cache>(&c, layers).map(drop))
                    .map(|()| Vec::new()),
            },
        }
    }
}
