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
//! - [`retry`](macro@retry): retries transient errors with backoff and jitter, honouring
//!   Retry-After.
//! - [`circuit_breaker`](macro@circuit_breaker): stops calling a dependency that keeps failing.
//! - [`bulkhead`](macro@bulkhead): bounds the calls in flight.
//! - [`rate_limit`](macro@rate_limit): admits at most `rate` calls per period, `burst` at once.
//! - [`hedge`](macro@hedge): starts another attempt beside one that has not answered.
//! - [`cache`](macro@cache): answers from earlier successes for `ttl`, and stale ones when the
//!   call fails.
//! - [`timeout`](macro@timeout): abandons a call that takes too long.
//! - [`fallback`]: answers from another function when the call fails.
//!
//! A layer that refuses or abandons a call returns `Err(E::from(Rejected))`, so the error
//! type implements `From<`[`Rejected`]`>` wherever a breaker, bulkhead or timeout is used.
//! Which errors count is decided by an explicit predicate, else by the error's [`Classify`]
//! impl, else every error counts. Every policy is also usable without macros: [`Retry`],
//! [`CircuitBreaker`], [`Bulkhead`], [`RateLimiter`], [`Hedge`], [`Cache`],
//! [`timeout()`](fn@timeout).
//!
//! Each policy's names live in its module, named as its attribute: [`mod@retry`],
//! [`mod@circuit_breaker`], [`mod@bulkhead`], [`mod@rate_limit`], [`mod@hedge`], [`mod@cache`],
//! [`mod@timeout`]; beside them [`problem`] (RFC
//! 9457 details and responses), [`mod@registry`] (named instances, snapshots, events) and
//! [`settings`] (every option as a setting, from a file, the environment or a request). The
//! root holds the attributes, [`Problem`], [`Rejected`], [`Classify`], [`ConfigError`], the
//! registry and each policy's entry point. One idiom builds every policy: a builder, then
//! `build()` for an instance of its own or `build_shared()` for the named instance that
//! attributes naming it share.

pub use staunch_macros::{
    Problem, bulkhead, cache, circuit_breaker, fallback, hedge, rate_limit, retry, timeout,
};
pub use staunch_runtime::{
    Bulkhead, Cache, CircuitBreaker, CircuitState, Classify, ConfigError, Hedge, Problem,
    RateLimiter, Registry, Rejected, Retry, RetryBudget, breaker, bulkhead, cache, hedge,
    rate_limiter, registry, timeout,
};

pub mod retry {
    //! `#[retry]` without the macro: [`Retry`] builds a [`RetryPolicy`]; a [`RetryBudget`] caps the
    //! retries of every policy that spends from it.

    pub use staunch_runtime::{
        Backoff, BudgetConfig, BudgetMetrics, Jitter, Retry, RetryBudget, RetryBudgetBuilder,
        RetryConfig, RetryMetrics, RetryPolicy, seed_thread_jitter,
    };
}

pub mod circuit_breaker {
    //! `#[circuit_breaker]` without the macro: [`CircuitBreaker::builder`] makes one, with its
    //! settings, counts and transitions; a [`BreakerStore`] shares its state beyond the process.

    pub use staunch_runtime::{
        BreakerConfig, BreakerMetrics, BreakerStore, CircuitBreaker, CircuitBreakerBuilder,
        CircuitState, Mode, Record, SharedState, SlowCalls, Transition, Trip,
    };
}

pub mod bulkhead {
    //! `#[bulkhead]` without the macro: [`Bulkhead::builder`] makes one, with its settings and
    //! counts.

    pub use staunch_runtime::{Bulkhead, BulkheadBuilder, BulkheadConfig, BulkheadMetrics};
}

pub mod rate_limit {
    //! `#[rate_limit]` without the macro: [`RateLimiter::builder`] makes one, GCRA on one
    //! atomic word, with its settings and counts.

    pub use staunch_runtime::{
        Acquire, Rate, RateLimitConfig, RateLimiter, RateLimiterBuilder, RateLimiterMetrics,
    };
}

pub mod cache {
    //! `#[cache]` without the macro: [`Cache::builder`] makes one, with its settings and counts;
    //! [`Cached`] and [`freshness()`] tell a caller whether an answer is live, fresh or stale.

    pub use staunch_runtime::{
        Cache, CacheBuilder, CacheConfig, CacheMetrics, Cached, Freshness, freshness,
    };
}

pub mod hedge {
    //! `#[hedge]` without the macro: [`Hedge::builder`] makes one, with its settings and
    //! counts.

    pub use staunch_runtime::{Hedge, HedgeBuilder, HedgeConfig, HedgeMetrics, Hedging};
}

pub mod timeout {
    //! `#[timeout]` without the macro: [`timeout()`](fn@timeout).

    pub use staunch_runtime::timeout;
}

pub mod problem {
    //! RFC 9457 problem details: the [`Problem`] trait that `#[derive(Problem)]` implements, the
    //! details it serializes to, and the HTTP response every framework integration sends.

    pub use staunch_runtime::{
        Chain, GENERIC_DETAIL, MAX_RETRY_AFTER, PROBLEM_JSON, Problem, ProblemDetails,
        ProblemResponse, parse_retry_after, reason_phrase, status_is_failure, status_is_transient,
    };
}

pub mod registry {
    //! Named instances: the [`Registry`] ([`registry()`](crate::registry()) is the process's), its
    //! [`Snapshot`] for health endpoints and dashboards, and the [`Event`]s every instance emits.

    pub use staunch_runtime::{
        Detail, Event, Instance, InstanceKind, Registry, SharedBreakers, Snapshot,
    };
}

pub use staunch_runtime::settings;

// The paths of 0.1, kept for code written against them; the modules above are where these
// names live.
#[doc(hidden)]
pub use staunch_runtime::{
    Backoff, BreakerConfig, BreakerMetrics, BudgetConfig, BudgetMetrics, BulkheadConfig,
    BulkheadMetrics, Chain, CircuitBreakerBuilder, Detail, Event, GENERIC_DETAIL, Instance,
    InstanceKind, Jitter, PROBLEM_JSON, ProblemDetails, ProblemResponse, RetryBudgetBuilder,
    RetryMetrics, RetryPolicy, SlowCalls, Snapshot, Transition, Trip, reason_phrase,
    seed_thread_jitter, status_is_failure, status_is_transient,
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
            FieldError, Json, JsonRejection, PROBLEM_JSON, PanicProblem, RouteProblem, Valid,
            Validate, catch_panic, dashboard, problem_fallbacks, problem_response,
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

staunch_runtime::__if_redis! {
    /// Circuit breakers shared by a fleet through Redis (feature `redis`): one state per
    /// breaker for every replica, at no cost per healthy call.
    pub mod redis {
        pub use staunch_runtime::integrations::redis::{
            RedisMetrics, SharedThroughRedis, SharedThroughRedisBuilder,
        };
    }
}

staunch_runtime::__if_tower! {
    pub use staunch_runtime::integrations::tower;
}

staunch_runtime::__if_metrics! {
    pub use staunch_runtime::metrics;
}
