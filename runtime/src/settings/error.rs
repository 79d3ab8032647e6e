//! Why settings were refused: every bad key at once, each with where it was written.

use std::fmt;

/// One refused setting: where it was written, which instance and key, and why.
///
/// Displayed as `staunch.toml:3:12: circuit_breaker.payments.fail_max: must be at least 1, got 0`;
/// serialized (for a problem response) with the parts it has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SettingError {
    /// The file (with its line and column) or the environment variable it came from; `None`
    /// for settings a program made itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The instance's kind as files spell it (`circuit_breaker`), if the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The instance's name, if the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The key, if the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

impl SettingError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            origin: None,
            kind: None,
            instance: None,
            key: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn at(mut self, origin: Option<&str>) -> Self {
        self.origin = origin.map(str::to_owned);
        self
    }

    pub(crate) fn of(mut self, kind: &str, instance: Option<&str>, key: Option<&str>) -> Self {
        self.kind = Some(kind.to_owned());
        self.instance = instance.map(str::to_owned);
        self.key = key.map(str::to_owned);
        self
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        let path: Vec<&str> = [&self.kind, &self.instance, &self.key]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !path.is_empty() {
            write!(f, "{}: ", path.join("."))?;
        }
        f.write_str(&self.reason)
    }
}

/// Settings refused whole: nothing was changed. Lists every bad setting, one per line.
///
/// ```
/// use staunch::settings::{BreakerSettings, Settings};
///
/// let mut settings = Settings::new();
/// settings.insert("docs-no-such-breaker", BreakerSettings::default());
/// let error = staunch::registry().configure(settings).unwrap_err();
/// assert!(error.to_string().contains("no circuit breaker is named `docs-no-such-breaker`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    errors: Vec<SettingError>,
}

impl SettingsError {
    pub(crate) fn new(errors: Vec<SettingError>) -> Self {
        Self { errors }
    }

    /// Each refused setting.
    #[must_use]
    pub fn errors(&self) -> &[SettingError] {
        &self.errors
    }
}

impl From<SettingError> for SettingsError {
    fn from(error: SettingError) -> Self {
        Self::new(vec![error])
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsError {}
