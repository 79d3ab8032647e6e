//! What a breaker reports: its counters and its changes of state.

use super::CircuitState;

/// A change of state, as sent to [`CircuitBreaker::subscribe`](crate::CircuitBreaker::subscribe)rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The breaker's name.
    pub name: &'static str,
    /// The state it left.
    pub from: CircuitState,
    /// The state it entered.
    pub to: CircuitState,
}

/// Counters and rates of a breaker, as [`CircuitBreaker::metrics`](crate::CircuitBreaker::metrics) reads them.
///
/// Each state keeps its own counts, as in resilience4j: `rejected`, `window_calls` and the
/// rates are those of the current state. CLOSED counts its window; OPEN keeps the window that
/// opened it; HALF_OPEN counts its trials; closing starts a fresh window. The `_total`
/// counters and `failures` run from creation (or the last [`CircuitBreaker::reset`](crate::CircuitBreaker::reset)).
///
/// Successes are counted per thread (no write another thread shares), and only with the
/// `metrics` or `axum` feature: `successes` is `None` without either.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BreakerMetrics {
    /// The current state.
    pub state: CircuitState,
    /// How long the breaker has been in it (`in_state_ms` in JSON).
    #[serde(rename = "in_state_ms", serialize_with = "crate::observe::millis")]
    pub in_state: std::time::Duration,
    /// Calls that succeeded since creation, as each thread last counted them (with the
    /// `metrics` or `axum` feature).
    pub successes: Option<u64>,
    /// Failures since creation or the last `reset()`.
    pub failures: u64,
    /// Calls refused in the current state (OPEN, FORCED_OPEN, or HALF_OPEN beyond its trials).
    pub rejected: u64,
    /// Calls refused since creation or the last `reset()`.
    pub rejected_total: u64,
    /// Calls a breaker in `mode = "observe"` let through that enforcing it would have refused,
    /// since creation or the last `reset()`: what rolling it out would turn away.
    pub observed_rejections: u64,
    /// State changes.
    pub transitions: u64,
    /// Failures in a row right now, failed trials included (consecutive policy).
    pub consecutive_failures: u32,
    /// Calls recorded in the current state (failure-rate policy): the window's calls, or in
    /// HALF_OPEN the trials completed.
    pub window_calls: u32,
    /// Failure percentage of those calls (failure-rate policy), `None` until `min_calls` are
    /// recorded (`half_open` trials in HALF_OPEN): it is not judged before that.
    pub failure_rate: Option<f64>,
    /// Slow-call percentage of those calls (when slow calls are tracked), `None` as above.
    pub slow_rate: Option<f64>,
}
