//! `#[retry]` and `Retry`.

use std::time::Duration;

use crate::kinds::count;
use crate::{Choice, Count, Factor, Name, Period, Violation};

/// Total attempts, the first included.
pub const MAX: Count = count!("max", 1..=4_294_967_295, default Some(3));
/// How the delay grows.
pub const BACKOFF: Choice = Choice {
    name: "backoff",
    values: &["exp", "constant", "linear"],
    default: "exp",
};
/// The first delay: 100 ms, or `max_delay` when a smaller one is written.
pub const BASE: Period = Period {
    name: "base",
    default: Some(Duration::from_millis(100)),
    positive: false,
};
/// The growth factor of exponential backoff.
pub const FACTOR: Factor = Factor {
    name: "factor",
    default: 2.0,
};
/// The cap of one sleep: 10 s, or `base` when a larger one is written.
pub const MAX_DELAY: Period = Period {
    name: "max_delay",
    default: Some(Duration::from_secs(10)),
    positive: true,
};
/// How each delay is randomised.
pub const JITTER: Choice = Choice {
    name: "jitter",
    values: &["full", "equal", "decorrelated", "none"],
    default: "full",
};
/// The cap of the whole call, attempts included; none by default.
pub const MAX_ELAPSED: Period = Period {
    name: "max_elapsed",
    default: None,
    positive: true,
};
/// The name of a retry budget.
pub const BUDGET: Name = Name { name: "budget" };

/// Every key of `#[retry]`.
pub const KEYS: &[&str] = &[
    "max",
    "backoff",
    "base",
    "factor",
    "max_delay",
    "jitter",
    "max_elapsed",
    "when",
    "budget",
];

/// `factor` given with a backoff other than exponential.
pub const FACTOR_WITHOUT_EXP: Violation = Violation::Requires {
    option: "factor",
    requires: "backoff = \"exp\"",
};

/// `base` and `max_delay` in force, from what was written: a default never makes a written
/// value invalid, so only a written `base` above a written `max_delay` is refused.
///
/// # Errors
/// [`Violation::Exceeds`] for `base` above `max_delay`, both written.
pub fn delays(
    base: Option<Duration>,
    max_delay: Option<Duration>,
) -> Result<(Duration, Duration), Violation> {
    let default_base = BASE.default.unwrap_or_default();
    let default_max = MAX_DELAY.default.unwrap_or_default();
    match (base, max_delay) {
        (Some(base), Some(max_delay)) if base > max_delay => Err(Violation::Exceeds {
            option: "base",
            limit: "max_delay",
        }),
        (Some(base), Some(max_delay)) => Ok((base, max_delay)),
        (Some(base), None) => Ok((base, default_max.max(base))),
        (None, Some(max_delay)) => Ok((default_base.min(max_delay), max_delay)),
        (None, None) => Ok((default_base, default_max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_never_makes_a_written_value_invalid() {
        let s = Duration::from_secs;
        assert_eq!(delays(Some(s(20)), None), Ok((s(20), s(20))));
        assert_eq!(
            delays(None, Some(Duration::from_millis(50))),
            Ok((Duration::from_millis(50), Duration::from_millis(50)))
        );
        assert_eq!(delays(None, None), Ok((Duration::from_millis(100), s(10))));
        assert!(delays(Some(s(20)), Some(s(5))).is_err());
        assert_eq!(
            MAX.check(0).unwrap_err().to_string(),
            "`max` must be at least 1"
        );
    }
}
