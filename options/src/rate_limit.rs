//! `#[rate_limit]` and `RateLimiter`.

use std::time::Duration;

use crate::kinds::count;
use crate::{Count, Name, Period, Violation};

/// Calls allowed per period on average, written `"100/s"`, `"600/m"`, `"5000/h"` (or
/// `"10/500ms"`: any duration after the slash); required.
pub const RATE: &str = "rate";
/// Calls allowed at once, after a quiet period; by default one period's worth.
pub const BURST: Count = count!("burst", 1..=4_294_967_295, default None);
/// How long a caller waits for its turn; 0 rejects at once.
pub const MAX_WAIT: Period = Period {
    name: "max_wait",
    default: Some(Duration::ZERO),
    positive: false,
};
/// The name shared process-wide.
pub const NAME: Name = Name { name: "name" };

/// The longest `max_wait`: a day (a caller waiting longer for a turn is better told when).
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(86_400);
/// The longest span a burst may cover at the rate: a year (so no sum of times overflows).
pub const MAX_SPAN: Duration = Duration::from_secs(365 * 86_400);

/// `max_wait`, if it is at most [`MAX_WAIT_LIMIT`].
///
/// # Errors
/// [`Violation::OutOfRange`].
pub fn max_wait(max_wait: Duration) -> Result<Duration, Violation> {
    if max_wait > MAX_WAIT_LIMIT {
        return Err(Violation::OutOfRange {
            option: MAX_WAIT.name,
            expected: "at most a day",
        });
    }
    MAX_WAIT.check(max_wait)
}

/// `burst`, if it is in range and `burst` calls at `rate` span at most [`MAX_SPAN`].
///
/// # Errors
/// [`Violation::OutOfRange`].
pub fn burst(rate: Rate, burst: u64) -> Result<u64, Violation> {
    let burst = BURST.check(burst)?;
    let span = rate.interval_nanos().checked_mul(burst);
    if span.is_none_or(|span| u128::from(span) > MAX_SPAN.as_nanos()) {
        return Err(Violation::OutOfRange {
            option: BURST.name,
            expected: "no more calls than the rate allows in a year",
        });
    }
    Ok(burst)
}

/// Every key of `#[rate_limit]`.
pub const KEYS: &[&str] = &["rate", "burst", "max_wait", "name"];

/// A rate: `calls` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Calls allowed per period, at least 1.
    pub calls: u64,
    /// The period, above zero.
    pub per: Duration,
}

impl Rate {
    /// The time between two calls at this rate, in nanoseconds (at least 1), rounded up so
    /// that no more than the rate is admitted.
    #[must_use]
    pub fn interval_nanos(&self) -> u64 {
        let per = u64::try_from(self.per.as_nanos()).unwrap_or(u64::MAX);
        per.div_ceil(self.calls.max(1)).max(1)
    }

    /// The default burst: one period's worth of calls (at most [`BURST`]'s maximum, and no
    /// more than [`MAX_SPAN`] covers at the rate, which the rounded-up interval of a rate
    /// per a year can exceed).
    #[must_use]
    pub fn default_burst(&self) -> u64 {
        let fits = u64::try_from(MAX_SPAN.as_nanos() / u128::from(self.interval_nanos()))
            .unwrap_or(u64::MAX);
        self.calls.min(BURST.max).min(fits).max(1)
    }

    /// Checks a rate built in code: at least one call, a period above zero and at most a
    /// year, and at most one call per nanosecond.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`] saying which.
    pub fn check(self) -> Result<Self, Violation> {
        let out = |expected| Violation::OutOfRange {
            option: RATE,
            expected,
        };
        if self.calls == 0 {
            return Err(out("at least 1 call per period"));
        }
        if self.per.is_zero() {
            return Err(out("per a period above zero"));
        }
        if self.per > MAX_SPAN {
            return Err(out("per a period of at most a year"));
        }
        if self.per.as_nanos() < u128::from(self.calls) {
            return Err(out("at most one call per nanosecond"));
        }
        Ok(self)
    }
}

/// The words of a rate that does not parse.
pub const EXPECTED: &str =
    "calls per period, like \"100/s\", \"600/m\", \"5000/h\" or \"10/500ms\"";

/// Parses `"100/s"`, `"600/m"`, `"5000/h"`, `"10/500ms"`.
///
/// # Errors
/// A message saying what is accepted, or why the rate is out of range.
pub fn parse(text: &str) -> Result<Rate, String> {
    let invalid = || format!("invalid rate \"{text}\": expected {EXPECTED}");
    let (calls, per) = text.split_once('/').ok_or_else(invalid)?;
    let calls: u64 = calls.trim().parse().map_err(|_| invalid())?;
    let per = per.trim();
    let per = match per {
        "s" | "sec" => Duration::from_secs(1),
        "m" | "min" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "ms" => Duration::from_millis(1),
        _ if per.starts_with(|c: char| c.is_ascii_digit()) => {
            crate::duration::parse(per).map_err(|_| invalid())?
        }
        _ => return Err(invalid()),
    };
    Rate { calls, per }.check().map_err(|v| v.to_string())
}

/// `rate` as [`parse`] reads it: `"100/s"`, `"600/m"`, `"10/500ms"`.
#[must_use]
pub fn format(rate: Rate) -> String {
    let per = match rate.per.as_secs() {
        1 if rate.per.subsec_nanos() == 0 => "s".to_owned(),
        60 if rate.per.subsec_nanos() == 0 => "m".to_owned(),
        3600 if rate.per.subsec_nanos() == 0 => "h".to_owned(),
        _ => crate::duration::format(rate.per),
    };
    format!("{}/{per}", rate.calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_calls_per_period() {
        let rate = |calls, secs| Rate {
            calls,
            per: Duration::from_secs(secs),
        };
        assert_eq!(parse("100/s"), Ok(rate(100, 1)));
        assert_eq!(parse("600/m"), Ok(rate(600, 60)));
        assert_eq!(parse("5000/h"), Ok(rate(5000, 3600)));
        assert_eq!(parse(" 3 / 2s "), Ok(rate(3, 2)));
        assert_eq!(
            parse("10/500ms").map(|r| r.interval_nanos()),
            Ok(50_000_000)
        );
        for rate in ["100/s", "600/m", "5000/h", "10/500ms", "7/1m30s"] {
            assert_eq!(format(parse(rate).unwrap()), rate);
        }
    }

    #[test]
    fn bounds_what_would_overflow_or_wait_for_ever() {
        let hourly = parse("1/h").unwrap();
        assert_eq!(burst(hourly, 24 * 365), Ok(24 * 365));
        assert_eq!(
            burst(hourly, 24 * 366).unwrap_err().to_string(),
            "`burst` must be no more calls than the rate allows in a year"
        );
        assert!(burst(parse("1/5s").unwrap(), 4_294_967_295).is_err());
        assert_eq!(
            max_wait(Duration::from_secs(86_401))
                .unwrap_err()
                .to_string(),
            "`max_wait` must be at most a day"
        );
        // A year's rate, rounded up, defaults to the burst a year covers.
        let yearly = parse("7/8760h").unwrap();
        assert_eq!(burst(yearly, yearly.default_burst()), Ok(6));
        // Rounded up: never more than the rate.
        assert_eq!(parse("3/1s").unwrap().interval_nanos(), 333_333_334);
        assert_eq!(parse("600000000/s").unwrap().interval_nanos(), 2);
    }

    #[test]
    fn refuses_what_is_no_rate() {
        for bad in ["100", "/s", "x/s", "100/parsec", "100/", "-1/s", "1.5/s"] {
            assert!(
                parse(bad)
                    .unwrap_err()
                    .contains("expected calls per period"),
                "{bad}"
            );
        }
        assert_eq!(
            parse("0/s").unwrap_err(),
            "`rate` must be at least 1 call per period"
        );
        assert_eq!(
            parse("5/0s").unwrap_err(),
            "`rate` must be per a period above zero"
        );
        assert_eq!(
            parse("2000000000/s").unwrap_err(),
            "`rate` must be at most one call per nanosecond"
        );
    }
}
