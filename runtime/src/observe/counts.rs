//! What each call counts, for the metrics sink and the dashboard: the outcomes, and the counts
//! healthy calls keep per thread (nothing at all without the `metrics` or `axum` feature).

/// What a breaker or a bulkhead did with a call: the `outcome` of `staunch_calls_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    Success,
    Failure,
    Rejected,
    Ignored,
}

/// How a retried call ended: the `outcome` of `staunch_retry_calls_total`.
#[allow(clippy::enum_variant_names)] // the label's values
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryOutcome {
    /// Counted by a [`Tally`]: only the metrics sink names it.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    SuccessWithoutRetry,
    SuccessWithRetry,
    FailureWithoutRetry,
    FailureWithRetry,
}

#[cfg(any(feature = "metrics", feature = "axum"))]
pub(crate) use super::tally::Tally;

/// Counts nothing: neither the `metrics` feature nor the dashboard's (`axum`) is on.
#[cfg(not(any(feature = "metrics", feature = "axum")))]
#[derive(Debug)]
pub(crate) struct Tally;

#[cfg(not(any(feature = "metrics", feature = "axum")))]
impl Tally {
    #[inline(always)]
    pub(crate) fn add(&self) {}

    /// Nothing is counted.
    pub(crate) fn total(&self) -> Option<u64> {
        None
    }
}

macro_rules! tallies {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub(crate) const fn $name(_name: &'static str) -> Tally {
            #[cfg(feature = "metrics")]
            return Tally::new(_name, crate::metrics::$name);
            #[cfg(all(feature = "axum", not(feature = "metrics")))]
            return Tally::new(_name, |_, _| {});
            #[cfg(not(any(feature = "metrics", feature = "axum")))]
            Tally
        }
    )*};
}

tallies! {
    /// The successes of breaker `name`.
    breaker_successes;
    /// The calls bulkhead `name` let in.
    bulkhead_admissions;
    /// The calls rate limiter `name` let in.
    rate_limit_admissions;
    /// The answers cache `name` gave without a call of their own.
    cache_hits;
    /// The calls of retry policy `name` that succeeded at their first attempt.
    first_successes;
}
