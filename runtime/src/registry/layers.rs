//! The settings in force of each named instance, layer over layer: the attribute's literals
//! (the instance as it was created), a builder's `build_shared`, settings applied at startup,
//! changes at run time. Each key comes from the highest layer that sets it.

use serde::Serialize;

use super::create::Source;
use crate::config::ConfigError;
use crate::observe::{Hub, InstanceKind};
use crate::settings::{
    BreakerSettings, BulkheadSettings, CacheSettings, Entry, HedgeSettings, InstanceSettings,
    RateLimitSettings, RetryBudgetSettings, RetrySettings, SettingError,
};
use crate::{
    BreakerConfig, BudgetConfig, Bulkhead, BulkheadConfig, Cache, CacheConfig, CircuitBreaker,
    Hedge, HedgeConfig, RateLimitConfig, RateLimiter, RetryBudget, RetryConfig, RetryPolicy,
};

/// The layers above an instance's own settings.
#[derive(Debug, Clone, Default)]
pub(super) struct Layers {
    /// Who created the instance.
    pub(super) created_by: Option<Source>,
    /// A builder's settings, for an instance an attribute created first.
    pub(super) built: Option<InstanceSettings>,
    /// Settings applied at startup (or a file re-read).
    pub(super) startup: Option<Entry>,
    /// Changes at run time, merged key by key.
    pub(super) runtime: Option<Entry>,
}

impl Layers {
    /// `created` with every layer over it.
    pub(super) fn over(&self, created: InstanceSettings) -> InstanceSettings {
        let mut settings = created;
        let layers = [
            self.built.as_ref(),
            self.startup.as_ref().map(|e| &e.settings),
            self.runtime.as_ref().map(|e| &e.settings),
        ];
        for layer in layers.into_iter().flatten() {
            settings.overlay(layer);
        }
        settings
    }

    /// What puts `key` in force, in words.
    pub(super) fn decided_by(&self, key: &str) -> String {
        let sets = |settings: &InstanceSettings| settings.written().contains_key(key);
        if self.runtime.as_ref().is_some_and(|e| sets(&e.settings)) {
            "a change at run time".to_owned()
        } else if let Some(entry) = self.startup.as_ref().filter(|e| sets(&e.settings)) {
            match entry.place(Some(key)) {
                Some(place) => format!("the settings from {place}"),
                None => "the settings applied at startup".to_owned(),
            }
        } else if self.built.as_ref().is_some_and(sets) || self.created_by == Some(Source::Builder)
        {
            "build_shared".to_owned()
        } else {
            "the call site that used the name first".to_owned()
        }
    }
}

/// A kind of named instance, as the layers see it.
pub(super) trait Named: Sync + 'static {
    type Config: Copy + PartialEq + Serialize;
    const KIND: InstanceKind;

    fn name_of(config: &Self::Config) -> &'static str;
    /// An instance created with `created` (what other call sites are checked against, and
    /// what the layers go over), running with `in_force`.
    fn make(created: Self::Config, in_force: Self::Config) -> Self;
    fn hub(&self) -> &Hub;
    fn created(&self) -> Self::Config;
    fn current(&self) -> Self::Config;
    fn settings_of(config: &Self::Config) -> InstanceSettings;
    /// The configuration `settings` make for an instance created with `base` (its name, and
    /// what is not a setting).
    fn config_from(
        base: &Self::Config,
        settings: &InstanceSettings,
    ) -> Result<Self::Config, ConfigError>;
    /// Whether `config` can be put in force while the instance runs.
    fn fits(&self, config: &Self::Config) -> Result<(), ConfigError>;
    fn put(&self, config: Self::Config);
}

/// The settings in force of `instance`, under the options' names.
pub(super) fn in_force<T: Named>(instance: &T) -> InstanceSettings {
    T::settings_of(&instance.current())
}

/// The configuration in force for an instance created with `created` under `layers`.
pub(super) fn over<T: Named>(
    created: &T::Config,
    layers: &Layers,
) -> Result<T::Config, ConfigError> {
    T::config_from(created, &layers.over(T::settings_of(created)))
}

/// The configuration in force for `instance` under `layers`: checked, and able to replace the
/// running one.
pub(super) fn resolve<T: Named>(instance: &T, layers: &Layers) -> Result<T::Config, ConfigError> {
    let config = over::<T>(&instance.created(), layers)?;
    instance.fits(&config)?;
    Ok(config)
}

/// The error of a configuration refused for the instance `name`, located where the layers
/// being applied wrote the key it is about.
pub(super) fn refusal(
    kind: InstanceKind,
    name: &str,
    error: &ConfigError,
    written: Option<&Entry>,
) -> SettingError {
    let key = error_key(error);
    let message = error.to_string();
    // "`fail_max` must be at least 1, got 0" reads "must be ..." beside the key's path; a
    // message about two options stays whole.
    let reason = message
        .strip_prefix(&format!("`{key}` "))
        .filter(|rest| rest.starts_with("must ") || rest.starts_with("cannot change"))
        .map_or_else(|| message.clone(), str::to_owned);
    let mut refused = SettingError::new(reason).of(kind.as_str(), Some(name), Some(key));
    refused.origin = written.and_then(|e| e.place(Some(key))).map(str::to_owned);
    refused
}

fn error_key(error: &ConfigError) -> &'static str {
    match error {
        ConfigError::OutOfRange { option, .. }
        | ConfigError::Conflict(option, _)
        | ConfigError::Exceeds { option, .. }
        | ConfigError::Requires { option, .. }
        | ConfigError::Running { option, .. }
        | ConfigError::Unknown { option, .. } => option,
    }
}

/// `Named` for a kind: its configuration, settings (and their variant), and how it is made.
macro_rules! named {
    ($ty:ty, $config:ty, $settings:ident, $variant:ident, $make:path) => {
        impl Named for $ty {
            type Config = $config;
            const KIND: InstanceKind = InstanceKind::$variant;

            fn name_of(config: &$config) -> &'static str {
                config.name()
            }
            fn make(created: $config, in_force: $config) -> Self {
                $make(in_force).created_as(created)
            }
            fn hub(&self) -> &Hub {
                self.hub()
            }
            fn created(&self) -> $config {
                self.created_config()
            }
            fn current(&self) -> $config {
                self.config()
            }
            fn settings_of(config: &$config) -> InstanceSettings {
                $settings::of(config).into()
            }
            fn config_from(
                base: &$config,
                settings: &InstanceSettings,
            ) -> Result<$config, ConfigError> {
                match settings {
                    InstanceSettings::$variant(s) => s.config(base),
                    _ => Ok(*base),
                }
            }
            fn fits(&self, config: &$config) -> Result<(), ConfigError> {
                self.fits(config)
            }
            fn put(&self, config: $config) {
                // Checked by `fits` under the registry's serialization of changes.
                let _ = self.reconfigure(config);
            }
        }
    };
}

named!(
    CircuitBreaker,
    BreakerConfig,
    BreakerSettings,
    CircuitBreaker,
    CircuitBreaker::new
);
named!(
    Bulkhead,
    BulkheadConfig,
    BulkheadSettings,
    Bulkhead,
    Bulkhead::with_config
);
named!(
    RetryPolicy,
    RetryConfig,
    RetrySettings,
    Retry,
    RetryPolicy::new
);
named!(
    RetryBudget,
    BudgetConfig,
    RetryBudgetSettings,
    RetryBudget,
    RetryBudget::new
);
named!(Hedge, HedgeConfig, HedgeSettings, Hedge, Hedge::with_config);
named!(Cache, CacheConfig, CacheSettings, Cache, Cache::with_config);
named!(
    RateLimiter,
    RateLimitConfig,
    RateLimitSettings,
    RateLimit,
    RateLimiter::with_config
);
