//! Resilience attributes for async Rust.
//!
//! ```
//! use std::time::Duration;
//!
//! #[derive(Debug, thiserror::Error)]
//! enum ApiError {
//!     #[error("upstream unavailable")]
//!     Unavailable,
//!     #[error(transparent)]
//!     Rejected(#[from] staunch::Rejected),
//! }
//!
//! # #[derive(Clone, Copy, Debug, PartialEq)] struct Product;
//! async fn cached_product(_id: u64, _error: ApiError) -> Result<Product, ApiError> {
//!     Ok(Product)
//! }
//!
//! #[staunch::fallback(cached_product)]
//! #[staunch::retry(max = 4, backoff = "exp", jitter = "full")]
//! #[staunch::circuit_breaker(name = "products", fail_max = 5, reset = "30s")]
//! #[staunch::bulkhead(limit = 10)]
//! #[staunch::timeout("2s")]
//! async fn fetch_product(id: u64) -> Result<Product, ApiError> {
//!     # let _ = id;
//!     Err(ApiError::Unavailable)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // Four attempts fail, then the fallback answers.
//! assert_eq!(fetch_product(7).await.unwrap(), Product);
//! # }
//! ```
//!
//! Attributes compose in reading order: the top one is the outermost layer. The example is
//! `fallback(retry(circuit_breaker(bulkhead(timeout(body)))))`.
//!
//! - [`retry`]: retries transient errors with backoff and jitter, honouring Retry-After.
//! - [`circuit_breaker`]: stops calling a dependency that keeps failing.
//! - [`bulkhead`]: bounds the calls in flight.
//! - [`timeout`](macro@timeout): abandons a call that takes too long.
//! - [`fallback`]: answers from another function when the call fails.
//!
//! A layer that refuses or abandons a call returns `Err(E::from(Rejected))`, so the error
//! type implements `From<`[`Rejected`]`>` wherever a breaker, bulkhead or timeout is used.
//! Which errors count is decided by an explicit predicate, else by the error's [`Classify`]
//! impl, else every error counts. Every policy is also usable without macros: [`Retry`],
//! [`CircuitBreaker`], [`Bulkhead`], [`timeout()`](fn@timeout).

pub use staunch_macros::{bulkhead, circuit_breaker, fallback, retry, timeout};
pub use staunch_runtime::{
    Backoff, BreakerConfig, BreakerMetrics, BudgetConfig, BudgetMetrics, Bulkhead, BulkheadConfig,
    BulkheadMetrics, CircuitBreaker, CircuitBreakerBuilder, CircuitState, Classify, ConfigError,
    Detail, Instance, Jitter, Registry, Rejected, Retry, RetryBudget, RetryBudgetBuilder,
    RetryMetrics, RetryPolicy, SlowCalls, Snapshot, Transition, Trip, breaker, bulkhead, registry,
    seed_thread_jitter, timeout,
};

/// Glue for generated code. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use staunch_runtime::__private::*;
}
