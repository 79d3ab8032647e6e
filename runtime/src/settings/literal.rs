//! A setting's value as a file, a request body or an environment variable writes it: the
//! literal forms of the attributes (`5`, `"30s"`, `"full"`, `0.2`, `true`), read the same way
//! from TOML, JSON and the environment.

use std::fmt;
use std::time::Duration;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use staunch_options::{Choice, Count, Factor, Period, Ratio, Violation};

use crate::config::ConfigError;

/// One value, before it is read as the option it is given to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Integer(i128),
    Float(f64),
    Text(String),
    Bool(bool),
    /// A table or an array, which no option takes.
    Nested(&'static str),
}

impl Literal {
    /// An environment variable's value: a number or a boolean when it reads as one, else text.
    #[cfg(feature = "config")]
    pub(crate) fn from_env(value: &str) -> Self {
        let value = value.trim();
        if let Ok(n) = value.parse::<i128>() {
            Self::Integer(n)
        } else if let Ok(x) = value.parse::<f64>()
            && x.is_finite()
        {
            Self::Float(x)
        } else if let Ok(b) = value.parse::<bool>() {
            Self::Bool(b)
        } else {
            Self::Text(value.to_owned())
        }
    }

    fn what(&self) -> String {
        match self {
            Self::Integer(n) => format!("the number {n}"),
            Self::Float(x) => format!("the number {x}"),
            Self::Text(s) => format!("the string \"{s}\""),
            Self::Bool(b) => format!("`{b}`"),
            Self::Nested(what) => (*what).to_owned(),
        }
    }
}

impl<'de> de::Deserialize<'de> for Literal {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LiteralVisitor)
    }
}

struct LiteralVisitor;

impl<'de> Visitor<'de> for LiteralVisitor {
    type Value = Literal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a string or a boolean")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Literal, E> {
        Ok(Literal::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Literal, E> {
        Ok(Literal::Integer(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Literal, E> {
        Ok(Literal::Integer(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Literal, E> {
        Ok(Literal::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Literal, E> {
        Ok(Literal::Text(v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Literal, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Literal::Nested("a table"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Literal, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Literal::Nested("an array"))
    }

    fn visit_unit<E>(self) -> Result<Literal, E> {
        Ok(Literal::Nested("null"))
    }
}

/// A whole number, and the number as written (for the message of a refusal); a number
/// beyond `u64` reads as `u64::MAX`, which every option refuses as too large.
fn whole(literal: &Literal, name: &str, below: &str) -> Result<(u64, i128), String> {
    match literal {
        Literal::Integer(n) if *n < 0 => Err(format!("must be {below}, got {n}")),
        Literal::Integer(n) => Ok((u64::try_from(*n).unwrap_or(u64::MAX), *n)),
        other => Err(format!(
            "takes a whole number, like `{name} = 5`, not {}",
            other.what()
        )),
    }
}

/// A count checked against its definition, as the attribute checks it.
pub(crate) fn count<T: TryFrom<u64>>(definition: &Count, literal: &Literal) -> Result<T, String> {
    let (n, written) = whole(literal, definition.name, definition.below)?;
    let n = definition.check(n).map_err(|v| got(&v, written))?;
    T::try_from(n).map_err(|_| format!("must be {}, got {n}", definition.above))
}

/// A percentage.
pub(crate) fn ratio(definition: &Ratio, literal: &Literal) -> Result<u8, String> {
    let (n, written) = whole(literal, definition.name, "a percentage between 1 and 100")?;
    definition.check(n).map_err(|v| got(&v, written))
}

/// A duration written as a string.
pub(crate) fn period(definition: &Period, literal: &Literal) -> Result<Duration, String> {
    let Literal::Text(text) = literal else {
        return Err(format!(
            "takes a duration as a string, like `{} = \"2s\"`, not {}",
            definition.name,
            literal.what()
        ));
    };
    let duration = staunch_options::duration::parse(text)?;
    definition.check(duration).map_err(|v| got(&v, duration))
}

/// A number, whole or not.
pub(crate) fn number(name: &str, literal: &Literal) -> Result<f64, String> {
    match literal {
        #[allow(clippy::cast_precision_loss)] // a setting's magnitude
        Literal::Integer(n) => Ok(*n as f64),
        Literal::Float(x) => Ok(*x),
        other => Err(format!(
            "takes a number, like `{name} = 2`, not {}",
            other.what()
        )),
    }
}

/// A growth factor.
pub(crate) fn factor(definition: &Factor, literal: &Literal) -> Result<f64, String> {
    let x = number(definition.name, literal)?;
    definition.check(x).map_err(|v| got(&v, x))
}

/// One of a few strings.
pub(crate) fn choice(definition: &Choice, literal: &Literal) -> Result<&'static str, String> {
    let Literal::Text(text) = literal else {
        return Err(format!(
            "takes one of {}, not {}",
            quoted(definition.values),
            literal.what()
        ));
    };
    definition.parse(text).map_err(|v| v.to_string())
}

/// A rate written as a string, `"100/s"`.
pub(crate) fn rate(literal: &Literal) -> Result<staunch_options::rate_limit::Rate, String> {
    match literal {
        Literal::Text(text) => staunch_options::rate_limit::parse(text),
        other => Err(format!(
            "takes {} as a string, like `rate = \"100/s\"`, not {}",
            staunch_options::rate_limit::EXPECTED,
            other.what()
        )),
    }
}

/// `true` or `false`.
pub(crate) fn boolean(name: &str, literal: &Literal) -> Result<bool, String> {
    match literal {
        Literal::Bool(b) => Ok(*b),
        other => Err(format!(
            "takes `true` or `false`, like `{name} = true`, not {}",
            other.what()
        )),
    }
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A violation as the builders word it, without the option's name, which the error shows
/// beside it: "must be at least 1, got 0" (the builder says "`fail_max` must be ...").
pub(crate) fn got(violation: &Violation, value: impl fmt::Debug) -> String {
    let message = ConfigError::from_violation(violation.clone(), value).to_string();
    match message
        .strip_prefix('`')
        .and_then(|rest| rest.split_once("` "))
    {
        Some((_, rest)) => rest.to_owned(),
        None => message,
    }
}
