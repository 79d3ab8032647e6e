//! Settings from a TOML file and from `STAUNCH_` environment variables (feature `config`).

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::literal::Literal;
use super::{SettingError, Settings, SettingsError, Written};
use crate::Registry;

/// The largest settings file read: a file is one table per instance, and a bigger one is
/// refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The prefix of the environment variables that settings are read from.
pub const ENV_PREFIX: &str = "STAUNCH_";

impl Settings {
    /// Settings from TOML text in the file's shape; `origin` (the file's path) names where
    /// each bad setting was written, with its line and column.
    ///
    /// ```
    /// use staunch::settings::Settings;
    ///
    /// let settings = Settings::from_toml("[circuit_breaker.payments]\nfail_max = 3\n", "staunch.toml").unwrap();
    /// assert_eq!(settings.iter().count(), 1);
    ///
    /// let error = Settings::from_toml("[circuit_breaker.payments]\nfail_maxx = 3\n", "staunch.toml").unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "staunch.toml:2:1: circuit_breaker.payments.fail_maxx: unknown key `fail_maxx`; did you mean `fail_max`?"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`SettingsError`] for text that is not TOML, or any bad kind, key or value.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, SettingsError> {
        let at = |span: std::ops::Range<usize>| {
            let (line, column) = line_column(text, span.start);
            format!("{origin}:{line}:{column}")
        };
        let document = DeTable::parse(text).map_err(|error| {
            let place = error.span().map_or_else(|| origin.to_owned(), at);
            SettingError::new(format!("not TOML: {}", error.message().trim_end())).at(Some(&place))
        })?;
        let mut written = Vec::new();
        let mut errors = Vec::new();
        for (kind, instances) in document.get_ref() {
            let kind_place = at(kind.span());
            let Some(instances) = table(instances, &kind_place, kind.get_ref(), None, &mut errors)
            else {
                continue;
            };
            for (instance, keys) in instances {
                let instance_place = at(instance.span());
                let path = format!("{}.{}", kind.get_ref(), instance.get_ref());
                let Some(keys) = table(
                    keys,
                    &instance_place,
                    &path,
                    Some(kind.get_ref()),
                    &mut errors,
                ) else {
                    continue;
                };
                written.push((
                    kind.get_ref().to_string(),
                    instance.get_ref().to_string(),
                    None,
                    kind_place.clone(),
                    instance_place.clone(),
                ));
                for (key, value) in keys {
                    written.push((
                        kind.get_ref().to_string(),
                        instance.get_ref().to_string(),
                        Some((key.get_ref().to_string(), literal(value.get_ref()))),
                        at(key.span()),
                        instance_place.clone(),
                    ));
                }
            }
        }
        let read = Settings::from_tables(written.iter().map(
            |(kind, instance, value, place, instance_place)| Written {
                kind,
                instance,
                value: value.as_ref().map(|(key, literal)| (key.as_str(), literal)),
                place: Some(place),
                instance_place: Some(instance_place),
            },
        ));
        with_errors(read, errors)
    }

    /// Settings from the process's environment variables named
    /// `STAUNCH_<KIND>__<NAME>__<KEY>`: `STAUNCH_CIRCUIT_BREAKER__PAYMENTS__FAIL_MAX=3`.
    ///
    /// The kind and the key are read without regard to case. The name is matched against
    /// the names the registry knows (created instances, and those the attributes declare):
    /// exactly, or with every character that is not a letter or a digit written `_` and
    /// without regard to case, so `SHOP__FETCH` reaches `shop::fetch`, and `PAYMENTS`
    /// reaches `payments`. A value reads as a number or a boolean when it is one, else as a
    /// string (`30s`, `full`).
    ///
    /// # Errors
    /// [`SettingsError`] naming each variable that names no kind, no known instance or no
    /// key, or holds a bad value.
    pub fn from_env() -> Result<Self, SettingsError> {
        let mut unreadable = Vec::new();
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                match value.into_string() {
                    Ok(value) => Some((name, value)),
                    Err(_) if name.starts_with(ENV_PREFIX) => {
                        unreadable.push(
                            SettingError::new("its value is not UTF-8")
                                .at(Some(&format!("environment variable {name}"))),
                        );
                        None
                    }
                    Err(_) => None,
                }
            })
            .collect();
        with_errors(Self::from_vars(vars), unreadable)
    }

    /// Settings from `vars` as [`from_env`](Self::from_env) reads the environment (those
    /// not starting with `STAUNCH_` are ignored).
    ///
    /// ```
    /// use staunch::CircuitBreaker;
    /// use staunch::settings::Settings;
    ///
    /// CircuitBreaker::builder("docs-env::payments").build_shared().unwrap();
    /// let vars = [("STAUNCH_CIRCUIT_BREAKER__DOCS_ENV__PAYMENTS__RESET".to_owned(), "20s".to_owned())];
    /// let settings = Settings::from_vars(vars).unwrap();
    /// let (_, name, _) = settings.iter().next().unwrap();
    /// assert_eq!(name, "docs-env::payments");
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let known = crate::registry::known_names();
        let mut written = Vec::new();
        let mut errors = Vec::new();
        for (var, value) in vars {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let place = format!("environment variable {var}");
            let Some((kind, (name, key))) = rest
                .split_once("__")
                .and_then(|(kind, tail)| Some((kind, tail.rsplit_once("__")?)))
            else {
                errors.push(
                    SettingError::new(
                        "expected STAUNCH_<KIND>__<NAME>__<KEY>, like STAUNCH_CIRCUIT_BREAKER__PAYMENTS__FAIL_MAX",
                    )
                    .at(Some(&place)),
                );
                continue;
            };
            let kind = kind.to_ascii_lowercase();
            let instance = match super::kind_named(&kind) {
                Ok(kind) => {
                    if let Some(instance) = resolve_name(&known, kind, name) {
                        instance
                    } else {
                        let what = kind.as_str().replace('_', " ");
                        errors.push(
                            SettingError::new(format!("no {what} is named like `{name}`"))
                                .at(Some(&place))
                                .of(kind.as_str(), Some(name), None),
                        );
                        continue;
                    }
                }
                Err(reason) => {
                    errors.push(SettingError::new(reason).at(Some(&place)));
                    continue;
                }
            };
            written.push((
                kind,
                instance,
                key.to_ascii_lowercase(),
                Literal::from_env(&value),
                place,
            ));
        }
        let read =
            Settings::from_tables(written.iter().map(|(kind, instance, key, literal, place)| {
                Written {
                    kind,
                    instance,
                    value: Some((key, literal)),
                    place: Some(place),
                    instance_place: Some(place),
                }
            }));
        with_errors(read, errors)
    }

    /// The file at `path`, then the environment's `STAUNCH_` variables over it (key by key).
    ///
    /// # Errors
    /// [`SettingsError`] for a file that cannot be read or is larger than
    /// [`MAX_FILE_BYTES`], and as [`from_toml`](Self::from_toml) and
    /// [`from_env`](Self::from_env); every error of both is reported.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text =
            read_bounded(path).map_err(|reason| SettingError::new(reason).at(Some(&origin)))?;
        match (Self::from_toml(&text, &origin), Self::from_env()) {
            (Ok(mut file), Ok(env)) => {
                file.merge(env);
                Ok(file)
            }
            (Err(a), Err(b)) => Err(SettingsError::new(
                a.errors().iter().chain(b.errors()).cloned().collect(),
            )),
            (Err(error), _) | (_, Err(error)) => Err(error),
        }
    }
}

impl Registry {
    /// Applies the file at `path` and the environment over it as the settings of startup
    /// ([`Settings::load`], then [`configure`](Self::configure)). Call it again to re-read
    /// them: a key no longer written falls back to what was in force without it.
    ///
    /// # Errors
    /// [`SettingsError`] naming the file, the instance, the key and the reason (with a line
    /// and column) for each bad setting; nothing changes.
    pub fn configure_from(&self, path: impl AsRef<Path>) -> Result<(), SettingsError> {
        self.configure(Settings::load(path)?)
    }
}

impl Registry {
    /// Re-reads the file at `path` (and the environment over it) every `period`, and applies
    /// it as [`configure_from`](Self::configure_from) does whenever it changed. A bad file is
    /// logged (WARN, target `staunch`, with every reason) and changes nothing: the settings in
    /// force stay until the file is fixed. The task runs until its handle is aborted.
    ///
    /// The file is read on the runtime's thread: it is small (at most [`MAX_FILE_BYTES`]).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() {
    /// let watcher = staunch::registry().watch_file("staunch.toml", std::time::Duration::from_secs(5));
    /// # watcher.abort();
    /// # }
    /// ```
    pub fn watch_file(
        &'static self,
        path: impl Into<std::path::PathBuf>,
        period: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let path = path.into();
        tokio::spawn(async move {
            let mut applied: Option<String> = None;
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let text = read_bounded(&path);
                if text.as_ref().ok() == applied.as_ref() {
                    continue;
                }
                let result = match &text {
                    Ok(_) => self.configure_from(&path),
                    Err(reason) => Err(SettingError::new(reason.clone())
                        .at(Some(&path.display().to_string()))
                        .into()),
                };
                match result {
                    Ok(()) => {
                        tracing::info!(target: "staunch", path = %path.display(), "settings file applied");
                        applied = text.ok();
                    }
                    Err(error) => {
                        tracing::warn!(
                            target: "staunch",
                            path = %path.display(),
                            %error,
                            "settings file refused; the settings in force stay"
                        );
                        // Said once per version of the file.
                        applied = text.ok();
                    }
                }
            }
        })
    }
}

/// `read`, unless `errors` (found before it) or its own say otherwise: every error of both.
fn with_errors(
    read: Result<Settings, SettingsError>,
    mut errors: Vec<SettingError>,
) -> Result<Settings, SettingsError> {
    match read {
        Ok(settings) if errors.is_empty() => Ok(settings),
        Ok(_) => Err(SettingsError::new(errors)),
        Err(more) => {
            errors.extend(more.errors().iter().cloned());
            Err(SettingsError::new(errors))
        }
    }
}

/// The file's text, refused above [`MAX_FILE_BYTES`] without reading it all.
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read the settings file: {e}"))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the settings file: {e}"))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "the settings file is larger than {MAX_FILE_BYTES} bytes; it holds one table per instance"
        ));
    }
    Ok(text)
}

/// The table `value` is, or an error saying the kind (or instance) needs one.
fn table<'a, 'i>(
    value: &'a Spanned<DeValue<'i>>,
    place: &str,
    path: &str,
    kind: Option<&str>,
    errors: &mut Vec<SettingError>,
) -> Option<&'a DeTable<'i>> {
    if let DeValue::Table(table) = value.get_ref() {
        return Some(table);
    }
    let reason = match kind {
        None => format!("`{path}` must be a table of instances, like `[{path}.payments]`"),
        Some(_) => format!(
            "`{path}` must be a table of settings, like `[{path}]` with `key = value` lines"
        ),
    };
    errors.push(SettingError::new(reason).at(Some(place)));
    None
}

fn literal(value: &DeValue<'_>) -> Literal {
    match value {
        DeValue::String(s) => Literal::Text(s.to_string()),
        DeValue::Integer(n) => i128::from_str_radix(n.as_str(), n.radix())
            .map_or(Literal::Nested("a number too large"), Literal::Integer),
        DeValue::Float(x) => x
            .as_str()
            .parse()
            .map_or(Literal::Nested("a number"), Literal::Float),
        DeValue::Boolean(b) => Literal::Bool(*b),
        DeValue::Datetime(_) => Literal::Nested("a date"),
        DeValue::Array(_) => Literal::Nested("an array"),
        DeValue::Table(_) => Literal::Nested("a table"),
    }
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The known name that an environment variable's `NAME` part writes.
fn resolve_name(
    known: &[(crate::InstanceKind, &'static str)],
    kind: crate::InstanceKind,
    written: &str,
) -> Option<String> {
    let squashed = |name: &str| -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    let of_kind = known.iter().filter(|(k, _)| *k == kind).map(|(_, n)| *n);
    of_kind
        .clone()
        .find(|name| *name == written)
        .or_else(|| {
            of_kind
                .clone()
                .find(|name| squashed(name) == squashed(written))
        })
        .map(str::to_owned)
}
