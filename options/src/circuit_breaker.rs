//! `#[circuit_breaker]` and `CircuitBreaker::builder`.

use std::time::Duration;

use crate::kinds::count;
use crate::{Choice, Count, Name, Period, Ratio, Violation};

/// The name shared process-wide.
pub const NAME: Name = Name { name: "name" };
/// Consecutive failures that open the breaker.
pub const FAIL_MAX: Count = count!("fail_max", 1..=4_294_967_295, default Some(5));
/// The largest window: its counts are packed in 21 bits each.
pub const MAX_WINDOW: u32 = 1 << 20;
/// Calls in the sliding window of a failure-rate breaker.
pub const WINDOW: Count = count!("window", 1..=1_048_576, default None);
/// The failure percentage that opens the breaker.
pub const FAILURE_RATE: Ratio = Ratio {
    name: "failure_rate",
    default: 50,
};
/// Calls recorded before the rate is judged: 1 to `window`, the whole window by default.
pub const MIN_CALLS: Count = Count {
    name: "min_calls",
    min: 1,
    max: MAX_WINDOW as u64,
    default: None,
    below: "between 1 and `window`",
    above: "between 1 and `window`",
};
/// A call lasting longer is slow.
pub const SLOW_CALL: Period = Period {
    name: "slow_call",
    default: None,
    positive: true,
};
/// The slow-call percentage that opens the breaker.
pub const SLOW_RATE: Ratio = Ratio {
    name: "slow_rate",
    default: 100,
};
/// How long OPEN waits before admitting trials.
pub const RESET: Period = Period {
    name: "reset",
    default: Some(Duration::from_secs(60)),
    positive: true,
};
/// Trial calls admitted in HALF_OPEN.
pub const HALF_OPEN: Count = count!("half_open", 1..=65_535, default Some(1));

/// Every key of `#[circuit_breaker]`.
pub const KEYS: &[&str] = &[
    "name",
    "fail_max",
    "window",
    "failure_rate",
    "min_calls",
    "slow_call",
    "slow_rate",
    "reset",
    "half_open",
    "failure",
];

/// The options that only a failure-rate breaker (one with `window`) takes.
pub const WINDOW_ONLY: &[&str] = &["failure_rate", "min_calls", "slow_call", "slow_rate"];

/// `fail_max` given together with `window`.
pub const FAIL_MAX_WITH_WINDOW: Violation = Violation::Conflict("fail_max", "window");

/// `option` (one of [`WINDOW_ONLY`]) given without `window`.
#[must_use]
pub fn requires_window(option: &'static str) -> Violation {
    Violation::Requires {
        option,
        requires: "window",
    }
}

/// `slow_rate` given without `slow_call`.
pub const SLOW_RATE_WITHOUT_SLOW_CALL: Violation = Violation::Requires {
    option: "slow_rate",
    requires: "slow_call",
};

/// `min_calls` for a window of `window` calls: the whole window by default.
///
/// # Errors
/// [`Violation::OutOfRange`] for 0 or more than `window`.
pub fn min_calls(min_calls: Option<u64>, window: u32) -> Result<u32, Violation> {
    let Some(min_calls) = min_calls else {
        return Ok(window);
    };
    let bounded = Count {
        max: u64::from(window),
        ..MIN_CALLS
    };
    bounded
        .check(min_calls)
        .map(|n| u32::try_from(n).unwrap_or(window))
}

const _: () = assert!(WINDOW.max == MAX_WINDOW as u64);

/// When a CLOSED breaker opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trip {
    /// After `fail_max` failures in a row.
    Consecutive {
        /// Failures in a row that open the breaker.
        fail_max: u32,
    },
    /// When at least `failure_rate` % of the last `window` calls failed, once `min_calls`
    /// calls are recorded.
    FailureRate {
        /// Calls in the sliding window.
        window: u32,
        /// Percentage of failures (1..=100) that opens the breaker.
        failure_rate: u8,
        /// Calls recorded before the rate is judged.
        min_calls: u32,
    },
}

/// Slow calls: a call lasting longer than `after` is slow; `rate` % slow calls open the
/// breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowCalls {
    /// A call lasting longer than this is slow (one of exactly `after` is not).
    pub after: Duration,
    /// Percentage of slow calls (1..=100) that opens the breaker.
    pub rate: u8,
}

/// What a breaker does with its verdict: `enforce` rejects calls while open, `observe` records,
/// reports and changes state but never rejects, `disabled` passes every call and records
/// nothing.
pub const MODE: Choice = Choice {
    name: "mode",
    values: &["enforce", "observe", "disabled"],
    default: "enforce",
};
