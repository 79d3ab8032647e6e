//! `#[cache]` and `Cache`.

use std::time::Duration;

use crate::kinds::count;
use crate::{Count, Name, Period, Violation};

/// How long an answer is served without calling again; required.
pub const TTL: Period = Period {
    name: "ttl",
    default: None,
    positive: true,
};
/// How old an answer may be and still be served when the call fails (by default `ttl`: no
/// stale answer).
pub const STALE: Period = Period {
    name: "stale",
    default: None,
    positive: true,
};
/// The most answers kept (about: the eviction policy keeps the worthiest of them).
pub const CAPACITY: Count = count!("capacity", 1..=4_294_967_295, default Some(10_000));
/// The name in the registry, logs and metrics (by default the function's path).
pub const NAME: Name = Name { name: "name" };
/// The longest `ttl` or `stale`: a year, so that no sum of times overflows.
pub const MAX_AGE: Duration = Duration::from_secs(365 * 86_400);

/// Every key of `#[cache]`.
pub const KEYS: &[&str] = &["ttl", "stale", "capacity", "key", "name"];

/// `ttl`, if it is above zero and at most a year.
///
/// # Errors
/// [`Violation::OutOfRange`].
pub fn ttl(ttl: Duration) -> Result<Duration, Violation> {
    within_a_year(TTL.check(ttl)?, TTL.name)
}

/// `stale` (by default `ttl`), if it is at least `ttl` and at most a year.
///
/// # Errors
/// [`Violation::OutOfRange`].
pub fn stale(ttl: Duration, stale: Option<Duration>) -> Result<Duration, Violation> {
    let Some(stale) = stale else {
        return Ok(ttl);
    };
    if stale < ttl {
        return Err(Violation::OutOfRange {
            option: STALE.name,
            expected: "at least `ttl`: it is the age, counted from when the answer was cached, up to which it is served when the call fails",
        });
    }
    within_a_year(stale, STALE.name)
}

fn within_a_year(age: Duration, option: &'static str) -> Result<Duration, Violation> {
    if age > MAX_AGE {
        return Err(Violation::OutOfRange {
            option,
            expected: "at most a year",
        });
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_defaults_to_ttl_and_may_not_be_shorter() {
        let ttl = Duration::from_secs(30);
        assert_eq!(stale(ttl, None), Ok(ttl));
        assert_eq!(
            stale(ttl, Some(Duration::from_secs(600))),
            Ok(Duration::from_secs(600))
        );
        assert_eq!(stale(ttl, Some(ttl)), Ok(ttl));
        let error = stale(ttl, Some(Duration::from_secs(10))).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("`stale` must be at least `ttl`"),
            "{error}"
        );
    }

    #[test]
    fn ages_are_positive_and_bounded() {
        assert!(ttl(Duration::ZERO).is_err());
        assert!(ttl(MAX_AGE).is_ok());
        assert!(ttl(MAX_AGE + Duration::from_secs(1)).is_err());
        assert!(stale(Duration::from_secs(1), Some(MAX_AGE * 2)).is_err());
    }
}
