//! `RetryBudget::builder`.

use crate::kinds::count;
use crate::{Count, Violation};

/// Retries allowed per first attempt, between 0 and 1.
pub const RATIO_DEFAULT: f64 = 0.2;
/// Retries allowed each second whatever the traffic.
pub const MIN_PER_SEC: Count = count!("min_per_sec", 0..=4_294_967_295, default Some(10));
/// The most retries banked by a quiet period.
pub const MAX_BALANCE: Count = count!("max_balance", 1..=4_294_967_295, default Some(100));

/// `ratio`, if it is between 0 and 1.
///
/// # Errors
/// [`Violation::OutOfRange`].
pub fn ratio(ratio: f64) -> Result<f64, Violation> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(Violation::OutOfRange {
            option: "ratio",
            expected: "between 0 and 1",
        })
    }
}
