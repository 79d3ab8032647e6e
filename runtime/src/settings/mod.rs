//! Settings of named instances, from a file, the environment or a program, applied while the
//! service runs.
//!
//! Every option of every attribute is also a setting of the named instance, under the same
//! name and in the same literal form (`fail_max = 3`, `reset = "20s"`, `jitter = "full"`).
//! [`Registry::configure`](crate::Registry::configure) applies settings at startup (a file
//! re-read replaces them), [`Registry::change`](crate::Registry::change) at run time; either
//! takes all of them or, with an error naming each bad one, none. What is in force, key by
//! key: run-time changes, then settings applied at startup, then a builder's `build_shared`,
//! then the attribute's literals (the defaults).

mod error;
#[cfg(feature = "config")]
mod file;
mod kinds;
mod literal;

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

pub use self::error::{SettingError, SettingsError};
#[cfg(feature = "config")]
pub use self::file::{ENV_PREFIX, MAX_FILE_BYTES};
pub use self::kinds::{
    BreakerSettings, BulkheadSettings, CacheSettings, HedgeSettings, RateLimitSettings,
    RetryBudgetSettings, RetrySettings,
};
pub(crate) use self::literal::Literal;
use crate::observe::InstanceKind;

/// The settings of one instance, of whichever kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InstanceSettings {
    /// A circuit breaker's.
    CircuitBreaker(BreakerSettings),
    /// A bulkhead's.
    Bulkhead(BulkheadSettings),
    /// A retry policy's.
    Retry(RetrySettings),
    /// A retry budget's.
    RetryBudget(RetryBudgetSettings),
    /// A rate limiter's.
    RateLimit(RateLimitSettings),
    /// A hedge's.
    Hedge(HedgeSettings),
    /// A cache's.
    Cache(CacheSettings),
}

impl InstanceSettings {
    /// No setting of an instance of `kind`.
    #[must_use]
    pub fn empty(kind: InstanceKind) -> Self {
        match kind {
            InstanceKind::CircuitBreaker => Self::CircuitBreaker(BreakerSettings::default()),
            InstanceKind::Bulkhead => Self::Bulkhead(BulkheadSettings::default()),
            InstanceKind::Retry => Self::Retry(RetrySettings::default()),
            InstanceKind::RetryBudget => Self::RetryBudget(RetryBudgetSettings::default()),
            InstanceKind::RateLimit => Self::RateLimit(RateLimitSettings::default()),
            InstanceKind::Hedge => Self::Hedge(HedgeSettings::default()),
            InstanceKind::Cache => Self::Cache(CacheSettings::default()),
        }
    }

    /// The kind of instance these settings are for.
    #[must_use]
    pub fn kind(&self) -> InstanceKind {
        match self {
            Self::CircuitBreaker(_) => InstanceKind::CircuitBreaker,
            Self::Bulkhead(_) => InstanceKind::Bulkhead,
            Self::Retry(_) => InstanceKind::Retry,
            Self::RetryBudget(_) => InstanceKind::RetryBudget,
            Self::RateLimit(_) => InstanceKind::RateLimit,
            Self::Hedge(_) => InstanceKind::Hedge,
            Self::Cache(_) => InstanceKind::Cache,
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: &Literal) -> Result<(), String> {
        match self {
            Self::CircuitBreaker(s) => s.set(key, value),
            Self::Bulkhead(s) => s.set(key, value),
            Self::Retry(s) => s.set(key, value),
            Self::RetryBudget(s) => s.set(key, value),
            Self::RateLimit(s) => s.set(key, value),
            Self::Hedge(s) => s.set(key, value),
            Self::Cache(s) => s.set(key, value),
        }
    }

    /// `upper`'s keys over these (settings of another kind change nothing).
    pub(crate) fn overlay(&mut self, upper: &Self) {
        match (self, upper) {
            (Self::CircuitBreaker(s), Self::CircuitBreaker(u)) => s.overlay(u),
            (Self::Bulkhead(s), Self::Bulkhead(u)) => s.overlay(u),
            (Self::Retry(s), Self::Retry(u)) => s.overlay(u),
            (Self::RetryBudget(s), Self::RetryBudget(u)) => s.overlay(u),
            (Self::RateLimit(s), Self::RateLimit(u)) => s.overlay(u),
            (Self::Hedge(s), Self::Hedge(u)) => s.overlay(u),
            (Self::Cache(s), Self::Cache(u)) => s.overlay(u),
            _ => {}
        }
    }

    /// The keys set, with their values as a file writes them.
    pub(crate) fn written(&self) -> BTreeMap<&'static str, String> {
        match self {
            Self::CircuitBreaker(s) => s.written(),
            Self::Bulkhead(s) => s.written(),
            Self::Retry(s) => s.written(),
            Self::RetryBudget(s) => s.written(),
            Self::RateLimit(s) => s.written(),
            Self::Hedge(s) => s.written(),
            Self::Cache(s) => s.written(),
        }
    }
}

macro_rules! instance_settings_from {
    ($($ty:ident => $variant:ident),*) => {$(
        impl From<$ty> for InstanceSettings {
            fn from(settings: $ty) -> Self {
                Self::$variant(settings)
            }
        }
    )*};
}
instance_settings_from!(
    BreakerSettings => CircuitBreaker,
    BulkheadSettings => Bulkhead,
    RetrySettings => Retry,
    RetryBudgetSettings => RetryBudget,
    RateLimitSettings => RateLimit,
    HedgeSettings => Hedge,
    CacheSettings => Cache
);

/// One instance's settings as written, with where each key was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) settings: InstanceSettings,
    /// Where the instance's table was written, and each of its keys.
    pub(crate) origin: Option<String>,
    pub(crate) places: BTreeMap<String, String>,
}

impl Entry {
    /// `upper`'s keys, and where they were written, over these.
    pub(crate) fn overlay(&mut self, upper: &Entry) {
        self.settings.overlay(&upper.settings);
        self.places
            .extend(upper.places.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    pub(crate) fn place(&self, key: Option<&str>) -> Option<&str> {
        key.and_then(|key| self.places.get(key))
            .or(self.origin.as_ref())
            .map(String::as_str)
    }
}

/// Settings for any number of named instances: what a file, the environment or a program
/// says. Serialized (and deserialized) in the shape of the file, one table per instance under
/// its kind:
///
/// ```toml
/// [circuit_breaker.payments]
/// fail_max = 3
/// reset = "20s"
///
/// [bulkhead.inventory]
/// limit = 32
/// max_wait = "50ms"
/// ```
///
/// ```
/// use staunch::settings::{BulkheadSettings, Settings};
///
/// let mut settings = Settings::new();
/// settings.insert("inventory", BulkheadSettings { limit: Some(32), ..Default::default() });
/// assert_eq!(
///     serde_json::to_string(&settings).unwrap(),
///     r#"{"bulkhead":{"inventory":{"limit":32}}}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub(crate) entries: BTreeMap<(InstanceKind, String), Entry>,
}

impl Settings {
    /// No settings.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`'s settings (replacing any it had here).
    pub fn insert(&mut self, name: impl Into<String>, settings: impl Into<InstanceSettings>) {
        let settings = settings.into();
        self.entries.insert(
            (settings.kind(), name.into()),
            Entry {
                settings,
                origin: None,
                places: BTreeMap::new(),
            },
        );
    }

    /// The settings of the instance of `kind` named `name`, if any.
    #[must_use]
    pub fn get(&self, kind: InstanceKind, name: &str) -> Option<&InstanceSettings> {
        self.entries
            .get(&(kind, name.to_owned()))
            .map(|entry| &entry.settings)
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every instance's settings, by kind and name.
    pub fn iter(&self) -> impl Iterator<Item = (InstanceKind, &str, &InstanceSettings)> {
        self.entries
            .iter()
            .map(|((kind, name), entry)| (*kind, name.as_str(), &entry.settings))
    }

    /// `other`'s keys over these, key by key (the environment over a file).
    pub fn merge(&mut self, other: Settings) {
        for (key, upper) in other.entries {
            match self.entries.get_mut(&key) {
                Some(entry) => entry.overlay(&upper),
                None => {
                    self.entries.insert(key, upper);
                }
            }
        }
    }

    /// Reads tables in the file's shape, `kind -> name -> key -> value`, collecting every bad
    /// kind, key and value. `place` says where a kind, an instance or a key was written.
    pub(crate) fn from_tables<'a>(
        tables: impl IntoIterator<Item = Written<'a>>,
    ) -> Result<Self, SettingsError> {
        let mut settings = Self::new();
        let mut errors = Vec::new();
        for written in tables {
            let kind = match kind_named(written.kind) {
                Ok(kind) => kind,
                // Said once, for the instance's table rather than each of its keys.
                Err(_) if written.value.is_some() => continue,
                Err(reason) => {
                    errors.push(SettingError::new(reason).at(written.place));
                    continue;
                }
            };
            let entry = settings
                .entries
                .entry((kind, written.instance.to_owned()))
                .or_insert_with(|| Entry {
                    settings: InstanceSettings::empty(kind),
                    origin: written.instance_place.map(str::to_owned),
                    places: BTreeMap::new(),
                });
            let Some((key, value)) = written.value else {
                continue;
            };
            match entry.settings.set(key, value) {
                Ok(()) => {
                    if let Some(place) = written.place {
                        entry.places.insert(key.to_owned(), place.to_owned());
                    }
                }
                Err(reason) => errors.push(SettingError::new(reason).at(written.place).of(
                    kind.as_str(),
                    Some(written.instance),
                    Some(key),
                )),
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(SettingsError::new(errors))
        }
    }
}

/// One thing written in settings: a key of an instance (or an instance with no key yet).
pub(crate) struct Written<'a> {
    pub(crate) kind: &'a str,
    pub(crate) instance: &'a str,
    pub(crate) value: Option<(&'a str, &'a Literal)>,
    /// Where the key (or the kind, when it is the kind that is wrong) was written.
    pub(crate) place: Option<&'a str>,
    pub(crate) instance_place: Option<&'a str>,
}

/// The kind a file's top-level table names.
pub(crate) fn kind_named(name: &str) -> Result<InstanceKind, String> {
    let names = InstanceKind::ALL.map(InstanceKind::as_str);
    InstanceKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == name)
        .ok_or_else(|| match staunch_options::nearest(name, &names) {
            Some(near) => format!("unknown kind `{name}`; did you mean `{near}`?"),
            None => format!("unknown kind `{name}`; the kinds are {}", listed(&names)),
        })
}

/// The reason for a key the instance does not take.
pub(crate) fn unknown_key(key: &str, keys: &[&str]) -> String {
    match staunch_options::nearest(key, keys) {
        Some(near) => format!("unknown key `{key}`; did you mean `{near}`?"),
        None => format!("unknown key `{key}`; the keys are {}", listed(keys)),
    }
}

/// `a`, `b`, `c`.
fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Serialize for Settings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut kinds: BTreeMap<&str, BTreeMap<&str, &InstanceSettings>> = BTreeMap::new();
        for ((kind, name), entry) in &self.entries {
            kinds
                .entry(kind.as_str())
                .or_default()
                .insert(name, &entry.settings);
        }
        let mut map = serializer.serialize_map(Some(kinds.len()))?;
        for (kind, instances) in kinds {
            map.serialize_entry(kind, &instances)?;
        }
        map.end()
    }
}

type Tables = BTreeMap<String, BTreeMap<String, BTreeMap<String, Literal>>>;

impl<'de> Deserialize<'de> for Settings {
    /// The file's shape, from any serde format (a section of a program's own configuration).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tables = Tables::deserialize(deserializer)?;
        Self::from_tables(tables.iter().flat_map(|(kind, instances)| {
            instances.iter().flat_map(move |(instance, keys)| {
                let head = std::iter::once(Written {
                    kind,
                    instance,
                    value: None,
                    place: None,
                    instance_place: None,
                });
                head.chain(keys.iter().map(move |(key, value)| Written {
                    kind,
                    instance,
                    value: Some((key.as_str(), value)),
                    place: None,
                    instance_place: None,
                }))
            })
        }))
        .map_err(serde::de::Error::custom)
    }
}

/// One instance's settings as a request body writes them (`{"fail_max": 3}`), before the
/// instance, and so which keys it takes, is known: for
/// [`Registry::change_instance`](crate::Registry::change_instance).
///
/// ```
/// let table: staunch::settings::Table = serde_json::from_str(r#"{"fail_max": 3, "reset": "20s"}"#).unwrap();
/// assert_eq!(table.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Table(BTreeMap<String, Literal>);

impl Table {
    /// How many keys it sets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it sets none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The settings these keys make for the instance of `kind` named `name`.
    pub(crate) fn settings(
        &self,
        kind: InstanceKind,
        name: &str,
    ) -> Result<Settings, SettingsError> {
        let written = std::iter::once(Written {
            kind: kind.as_str(),
            instance: name,
            value: None,
            place: None,
            instance_place: None,
        })
        .chain(self.0.iter().map(|(key, value)| Written {
            kind: kind.as_str(),
            instance: name,
            value: Some((key.as_str(), value)),
            place: None,
            instance_place: None,
        }));
        Settings::from_tables(written)
    }
}
