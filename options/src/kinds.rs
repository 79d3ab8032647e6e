//! The kinds of value an option takes, each with its check.

use std::fmt;
use std::time::Duration;

/// Why a value or a combination of values is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A value outside the option's range: "`{option}` must be {expected}".
    OutOfRange {
        /// The option, as the attribute spells it.
        option: &'static str,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// A string that is none of the option's values.
    Unknown {
        /// The option.
        option: &'static str,
        /// The value given.
        given: String,
        /// The values it takes.
        expected: &'static [&'static str],
    },
    /// Two options that cannot be given together.
    Conflict(&'static str, &'static str),
    /// An option that only makes sense together with another.
    Requires {
        /// The option given.
        option: &'static str,
        /// What it needs.
        requires: &'static str,
    },
    /// Two values that contradict each other: `option` above `limit`.
    Exceeds {
        /// The option given.
        option: &'static str,
        /// The option it must not exceed.
        limit: &'static str,
    },
}

impl Violation {
    /// The message of a conflict between two options.
    #[must_use]
    pub fn conflict_message(option: &str, other: &str) -> String {
        match (option, other) {
            ("fail_max", "window") => {
                "`fail_max` (consecutive failures) cannot be combined with `window` (failure rate); choose one"
                    .to_owned()
            }
            _ => format!("`{option}` cannot be combined with `{other}`"),
        }
    }

    /// The message of an option given without the one it needs.
    #[must_use]
    pub fn requires_message(option: &str, requires: &str) -> String {
        match requires {
            "window" => format!("`{option}` requires `window = N` (a failure-rate breaker)"),
            "slow_call" => format!("`{option}` requires `slow_call = \"<duration>\"`"),
            "backoff = \"exp\"" => format!("`{option}` only applies to `backoff = \"exp\"`"),
            _ => format!("`{option}` requires `{requires}`"),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { option, expected } => write!(f, "`{option}` must be {expected}"),
            Self::Unknown {
                option,
                given,
                expected,
            } => {
                write!(f, "unknown {option} \"{given}\"; expected one of: ")?;
                for (i, value) in expected.iter().enumerate() {
                    let comma = if i == 0 { "" } else { ", " };
                    write!(f, "{comma}\"{value}\"")?;
                }
                if let Some(near) = crate::nearest(given, expected) {
                    write!(f, "; did you mean \"{near}\"?")?;
                }
                Ok(())
            }
            Self::Conflict(option, other) => f.write_str(&Self::conflict_message(option, other)),
            Self::Requires { option, requires } => {
                f.write_str(&Self::requires_message(option, requires))
            }
            Self::Exceeds { option, limit } => write!(f, "`{option}` must not exceed `{limit}`"),
        }
    }
}

impl std::error::Error for Violation {}

/// A whole number in `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The option's name.
    pub name: &'static str,
    /// The smallest value accepted.
    pub min: u64,
    /// The largest value accepted.
    pub max: u64,
    /// The value when none is given (`None`: required, or derived from another option).
    pub default: Option<u64>,
    /// The refusal of a value below `min`, in words (`at least 1`).
    pub below: &'static str,
    /// The refusal of a value above `max`, in words (`at most 100`).
    pub above: &'static str,
}

impl Count {
    /// `value`, if it is in range.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`] saying which bound it crossed.
    pub fn check(&self, value: u64) -> Result<u64, Violation> {
        let expected = if value < self.min {
            self.below
        } else if value > self.max {
            self.above
        } else {
            return Ok(value);
        };
        Err(Violation::OutOfRange {
            option: self.name,
            expected,
        })
    }
}

/// A count, defined by its name, bounds and default; the words of its refusals are written
/// from the bounds.
macro_rules! count {
    ($name:literal, $min:literal ..= $max:literal, default $default:expr) => {
        $crate::Count {
            name: $name,
            min: $min,
            max: $max,
            default: $default,
            below: concat!("at least ", $min),
            above: concat!("at most ", $max),
        }
    };
}
pub(crate) use count;

/// A percentage, 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    /// The option's name.
    pub name: &'static str,
    /// The value when none is given.
    pub default: u8,
}

impl Ratio {
    /// `percent`, if it is between 1 and 100.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`].
    pub fn check(&self, percent: u64) -> Result<u8, Violation> {
        match u8::try_from(percent) {
            Ok(percent @ 1..=100) => Ok(percent),
            _ => Err(Violation::OutOfRange {
                option: self.name,
                expected: "a percentage between 1 and 100",
            }),
        }
    }
}

/// A duration, written `"100ms"`, `"2s"`, `"1m30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The option's name.
    pub name: &'static str,
    /// The value when none is given (`None`: optional or required).
    pub default: Option<Duration>,
    /// Whether zero is refused.
    pub positive: bool,
}

impl Period {
    /// `value`, if it is allowed.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`] for zero when the option must be positive.
    pub fn check(&self, value: Duration) -> Result<Duration, Violation> {
        if self.positive && value.is_zero() {
            return Err(Violation::OutOfRange {
                option: self.name,
                expected: "above zero",
            });
        }
        Ok(value)
    }
}

/// A growth factor: a finite number of at least 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor {
    /// The option's name.
    pub name: &'static str,
    /// The value when none is given.
    pub default: f64,
}

impl Factor {
    /// `value`, if it is finite and at least 1.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`].
    pub fn check(&self, value: f64) -> Result<f64, Violation> {
        if value.is_finite() && value >= 1.0 {
            Ok(value)
        } else {
            Err(Violation::OutOfRange {
                option: self.name,
                expected: "at least 1",
            })
        }
    }
}

/// One of a few strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The option's name.
    pub name: &'static str,
    /// The values it takes.
    pub values: &'static [&'static str],
    /// The value when none is given.
    pub default: &'static str,
}

impl Choice {
    /// The value `given` names.
    ///
    /// # Errors
    /// [`Violation::Unknown`], with the valid values and the nearest of them.
    pub fn parse(&self, given: &str) -> Result<&'static str, Violation> {
        self.values
            .iter()
            .find(|value| **value == given)
            .copied()
            .ok_or_else(|| Violation::Unknown {
                option: self.name,
                given: given.to_owned(),
                expected: self.values,
            })
    }
}

/// The name of an instance: any non-blank string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    /// The option's name.
    pub name: &'static str,
}

impl Name {
    /// `value`, if it is not blank.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`] for an empty or blank name.
    pub fn check<'a>(&self, value: &'a str) -> Result<&'a str, Violation> {
        if value.trim().is_empty() {
            Err(Violation::OutOfRange {
                option: self.name,
                expected: "a non-empty string",
            })
        } else {
            Ok(value)
        }
    }
}
