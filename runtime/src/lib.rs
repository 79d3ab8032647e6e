//! The runtime of [staunch](https://docs.rs/staunch): resilience policies driven by tokio time.
//!
//! Use it through the `staunch` crate, whose attributes expand to calls of this API. Every
//! policy is also usable on its own through its builder and `call`.

mod breaker;
mod budget;
mod bulkhead;
mod classify;
mod clock;
mod config;
mod failure;
mod problem;
mod registry;
mod rejected;
mod retry;
mod timeout;

#[cfg(feature = "axum")]
pub mod axum_support;
#[cfg(feature = "reqwest")]
pub mod reqwest_support;

#[doc(hidden)]
pub mod __private;

pub use breaker::{
    BreakerConfig, BreakerMetrics, CircuitBreaker, CircuitBreakerBuilder, CircuitState, SlowCalls,
    Transition, Trip,
};
pub use budget::{BudgetConfig, BudgetMetrics, RetryBudget, RetryBudgetBuilder};
pub use bulkhead::{Bulkhead, BulkheadConfig, BulkheadMetrics};
pub use classify::Classify;
pub use config::ConfigError;
pub use problem::{
    Chain, GENERIC_DETAIL, Problem, ProblemDetails, reason_phrase, status_is_failure,
    status_is_transient,
};
pub use registry::{Detail, Instance, Registry, Snapshot, breaker, bulkhead};
pub use rejected::Rejected;
pub use retry::{Backoff, Jitter, Retry, RetryMetrics, RetryPolicy, seed_thread_jitter};
pub use timeout::timeout;

/// The process-wide registry of named instances.
#[must_use]
pub fn registry() -> &'static Registry {
    registry::global()
}
