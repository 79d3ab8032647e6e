//! Errors of policy builders: a bad configuration is a `Result`, never a panic.

/// Why a policy builder refused its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside the range the option accepts.
    #[error("`{option}` must be {expected}, got {got}")]
    OutOfRange {
        /// The option's name, as the attribute spells it.
        option: &'static str,
        /// The accepted range, in words.
        expected: &'static str,
        /// The value given.
        got: String,
    },
    /// Two options that contradict each other.
    #[error("`{0}` cannot be combined with `{1}`")]
    Conflict(&'static str, &'static str),
    /// Two values that contradict each other: `option` above `limit`.
    #[error("`{option}` must not exceed `{limit}`")]
    Exceeds {
        /// The option given.
        option: &'static str,
        /// The option it must not exceed.
        limit: &'static str,
    },
    /// An option that only makes sense together with another.
    #[error("`{option}` requires `{requires}`")]
    Requires {
        /// The option given.
        option: &'static str,
        /// The option it needs.
        requires: &'static str,
    },
}

impl ConfigError {
    pub(crate) fn out_of_range(
        option: &'static str,
        expected: &'static str,
        got: impl std::fmt::Debug,
    ) -> Self {
        Self::OutOfRange {
            option,
            expected,
            got: format!("{got:?}"),
        }
    }
}

/// `Err(out_of_range)` unless `ok`.
pub(crate) fn check(
    ok: bool,
    option: &'static str,
    expected: &'static str,
    got: impl std::fmt::Debug,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::out_of_range(option, expected, got))
    }
}
