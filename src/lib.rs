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
//! - [`bulkhead`](macro@bulkhead): bounds the calls in flight.
//! - [`timeout`](macro@timeout): abandons a call that takes too long.
//! - [`fallback`]: answers from another function when the call fails.
//!
//! A layer that refuses or abandons a call returns `Err(E::from(Rejected))`, so the error
//! type implements `From<`[`Rejected`]`>` wherever a breaker, bulkhead or timeout is used.
//! Which errors count is decided by an explicit predicate, else by the error's [`Classify`]
//! impl, else every error counts. Every policy is also usable without macros: [`Retry`],
//! [`CircuitBreaker`], [`Bulkhead`], [`timeout()`](fn@timeout).

pub use staunch_macros::{Problem, bulkhead, circuit_breaker, fallback, retry, timeout};
pub use staunch_runtime::{
    Backoff, BreakerConfig, BreakerMetrics, BudgetConfig, BudgetMetrics, Bulkhead, BulkheadConfig,
    BulkheadMetrics, Chain, CircuitBreaker, CircuitBreakerBuilder, CircuitState, Classify,
    ConfigError, Detail, Event, GENERIC_DETAIL, Instance, InstanceKind, Jitter, PROBLEM_JSON,
    Problem, ProblemDetails, ProblemResponse, Registry, Rejected, Retry, RetryBudget,
    RetryBudgetBuilder, RetryMetrics, RetryPolicy, SlowCalls, Snapshot, Transition, Trip, breaker,
    bulkhead, reason_phrase, registry, seed_thread_jitter, status_is_failure, status_is_transient,
    timeout,
};

/// Glue for generated code. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use staunch_macros::__stack as stack;
    pub use staunch_runtime::__private::*;
}

#[doc(hidden)]
pub use staunch_runtime::__impl_problem_integrations;

staunch_runtime::__if_axum! {
    /// axum integration (feature `axum`): every `Problem` is an `IntoResponse`; [`axum::Json`]
    /// and [`axum::Valid`] extract bodies whose rejections are 400/415/422 problems;
    /// [`axum::catch_panic`] answers a panicking handler with a 500 problem.
    pub mod axum {
        pub use staunch_runtime::integrations::axum::{
            FieldError, Json, JsonRejection, PROBLEM_JSON, PanicProblem, Valid, Validate,
            catch_panic, problem_response,
        };
    }
}

staunch_runtime::__if_actix! {
    /// actix-web integration (feature `actix`): every `Problem` is a `ResponseError` with the
    /// same status, headers and body as the axum response.
    pub mod actix {
        pub use staunch_runtime::integrations::actix::problem_response;
    }
}

staunch_runtime::__if_reqwest! {
    /// reqwest integration (feature `reqwest`): `Classify` for `reqwest::Error`, and
    /// [`ResponseExt::error_for_status_classified`](reqwest::ResponseExt) turning a non-success
    /// response into an error that carries its status and `Retry-After`.
    pub mod reqwest {
        pub use staunch_runtime::integrations::reqwest::{
            HttpStatusError, MAX_RETRY_AFTER, ResponseExt, parse_retry_after,
        };
    }
}
