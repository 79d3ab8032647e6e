//! Errors of policy builders: a bad configuration is a `Result`, never a panic.
//!
//! The checks and their words come from `staunch-options`, which the attribute macros use
//! too: a setting the attribute refuses, the builder refuses with the same message.

use staunch_options::Violation;

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
    #[error("{}", Violation::conflict_message(.0, .1))]
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
    #[error("{}", Violation::requires_message(option, requires))]
    Requires {
        /// The option given.
        option: &'static str,
        /// The option it needs.
        requires: &'static str,
    },
    /// A setting a running instance cannot take.
    #[error("`{option}` cannot change here: {reason}")]
    Running {
        /// The option.
        option: &'static str,
        /// Why, in words.
        reason: &'static str,
    },
    /// A string that is none of the option's values.
    #[error("{}", Violation::Unknown { option, given: given.clone(), expected })]
    Unknown {
        /// The option's name.
        option: &'static str,
        /// The value given.
        given: String,
        /// The values the option takes.
        expected: &'static [&'static str],
    },
}

impl ConfigError {
    /// The builder's error for `violation`; `got` is the value given, for a range.
    pub(crate) fn from_violation(violation: Violation, got: impl std::fmt::Debug) -> Self {
        match violation {
            Violation::OutOfRange { option, expected } => Self::OutOfRange {
                option,
                expected,
                got: format!("{got:?}"),
            },
            Violation::Unknown {
                option,
                given,
                expected,
            } => Self::Unknown {
                option,
                given,
                expected,
            },
            Violation::Conflict(option, other) => Self::Conflict(option, other),
            Violation::Requires { option, requires } => Self::Requires { option, requires },
            Violation::Exceeds { option, limit } => Self::Exceeds { option, limit },
        }
    }
}

/// The value `check` accepts, or the builder's error naming `got`.
pub(crate) fn checked<T, G: std::fmt::Debug>(
    check: Result<T, Violation>,
    got: G,
) -> Result<T, ConfigError> {
    check.map_err(|violation| ConfigError::from_violation(violation, got))
}

/// Whether settings named `given` are for the instance named `own`: a change never renames.
pub(crate) fn same_name(own: &str, given: &str) -> Result<(), ConfigError> {
    if own == given {
        Ok(())
    } else {
        Err(ConfigError::Conflict("name", "the instance's name"))
    }
}

/// `Err(violation)` as a builder's error.
pub(crate) fn refuse<T>(violation: Violation) -> Result<T, ConfigError> {
    Err(ConfigError::from_violation(violation, ()))
}
