//! The runtime of [staunch](https://docs.rs/staunch): resilience policies driven by tokio time.
//!
//! Use it through the `staunch` crate, whose attributes expand to calls of this API. Every
//! policy is also usable on its own through its builder and `call`.
//!
//! The modules, each depending only on those listed before it:
//!
//! | module | what it holds |
//! |---|---|
//! | `sync`, `clock`, `config`, `names` | atomics (loom's under `--cfg loom`), tokio time in nanoseconds, `ConfigError`, names read at run time |
//! | `outcome` | what a layer's call ends with: `Failure`, `Rejected`, `Classify` |
//! | `observe` | the one stream of events (`Event`) and its sinks: `tracing`, each instance's `subscribe()`, the registry's |
//! | `problem` | RFC 9457 details, and the HTTP response every framework builds from |
//! | `retry`, `breaker`, `bulkhead`, `timeout`, `rate_limit`, `hedge`, `cache` | the policies, each with its guard future |
//! | `settings` | every option as a setting of a named instance: its types, read from TOML, JSON and the environment |
//! | `registry` | named instances: lookups, `build_shared`, the call sites' slots, settings applied in layers, the snapshot |
//! | `integrations` | axum, actix-web, reqwest, tower, each behind its feature |
//! | `__private` | what generated code names; nothing in the crate imports it |

mod breaker;
mod bulkhead;
mod cache;
mod clock;
mod config;
mod hedge;
pub mod integrations;
#[cfg(feature = "metrics")]
pub mod metrics;
mod names;
mod observe;
mod outcome;
mod problem;
mod rate_limit;
mod registry;
mod retry;
pub mod settings;
mod sync;
mod timeout;

#[doc(hidden)]
pub mod __private;

/// Hooks of the loom models (`tests/loom.rs`); they exist only under `--cfg loom`.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    /// Sets the clock every breaker reads (nanoseconds).
    pub fn set_clock(nanos: u64) {
        crate::clock::set(nanos);
    }
}

pub use breaker::{
    BreakerConfig, BreakerMetrics, BreakerStore, CircuitBreaker, CircuitBreakerBuilder,
    CircuitState, Mode, Record, SharedState, SlowCalls, Transition, Trip,
};
pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadConfig, BulkheadMetrics};
pub use cache::{Cache, CacheBuilder, CacheConfig, CacheMetrics, Cached, Freshness, freshness};
pub use config::ConfigError;
pub use hedge::{Hedge, HedgeBuilder, HedgeConfig, HedgeMetrics, Hedging};
pub use observe::{Event, InstanceKind};
pub use outcome::{Classify, Rejected};
pub use problem::{
    Chain, GENERIC_DETAIL, MAX_RETRY_AFTER, PROBLEM_JSON, Problem, ProblemDetails, ProblemResponse,
    parse_retry_after, reason_phrase, status_is_failure, status_is_transient,
};
pub use rate_limit::{
    Acquire, RateLimitConfig, RateLimiter, RateLimiterBuilder, RateLimiterMetrics,
};
pub use registry::{
    Detail, Instance, Registry, SharedBreakers, Snapshot, breaker, bulkhead, cache, hedge,
    rate_limiter,
};
pub use retry::{
    Backoff, BudgetConfig, BudgetMetrics, Jitter, Retry, RetryBudget, RetryBudgetBuilder,
    RetryConfig, RetryMetrics, RetryPolicy, seed_thread_jitter,
};
pub use staunch_options::rate_limit::Rate;
pub use timeout::timeout;

/// The process-wide registry of named instances.
#[must_use]
pub fn registry() -> &'static Registry {
    registry::global()
}

// The facade's integration modules exist when this crate's features are on, however they were
// turned on (a user's feature of `staunch`, or a dev-dependency enabling them for examples).

/// Expands its input when the `axum` feature is on.
#[cfg(feature = "axum")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_axum {
    ($($item:tt)*) => { $($item)* };
}

/// Expands its input when the `axum` feature is on.
#[cfg(not(feature = "axum"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_axum {
    ($($item:tt)*) => {};
}

/// Expands its input when the `actix` feature is on.
#[cfg(feature = "actix")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_actix {
    ($($item:tt)*) => { $($item)* };
}

/// Expands its input when the `actix` feature is on.
#[cfg(not(feature = "actix"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_actix {
    ($($item:tt)*) => {};
}

/// Expands its input when the `metrics` feature is on.
#[cfg(feature = "metrics")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_metrics {
    ($($item:tt)*) => { $($item)* };
}

/// Expands its input when the `metrics` feature is on.
#[cfg(not(feature = "metrics"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_metrics {
    ($($item:tt)*) => {};
}

/// Expands its input when the `tower` feature is on.
#[cfg(feature = "tower")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_tower {
    ($($item:tt)*) => { $($item)* };
}

/// Expands its input when the `tower` feature is on.
#[cfg(not(feature = "tower"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_tower {
    ($($item:tt)*) => {};
}

/// Expands its input when the `reqwest` feature is on.
#[cfg(feature = "reqwest")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_reqwest {
    ($($item:tt)*) => { $($item)* };
}

/// Expands its input when the `redis` feature is on.
#[cfg(feature = "redis")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_redis {
    ($($item:tt)*) => { $($item)* };
}

/// Expands its input when the `redis` feature is on.
#[cfg(not(feature = "redis"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_redis {
    ($($item:tt)*) => {};
}

/// Expands its input when the `reqwest` feature is on.
#[cfg(not(feature = "reqwest"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_reqwest {
    ($($item:tt)*) => {};
}

/// Implements the HTTP integrations that are on for a type deriving `Problem`: the derive
/// cannot see features, so it calls this macro, which expands to the impls of the features on.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_problem_integrations {
    ($($input:tt)*) => {
        ::staunch::__private::__impl_problem_axum! { $($input)* }
        ::staunch::__private::__impl_problem_actix! { $($input)* }
    };
}

/// `IntoResponse` for a type deriving `Problem`, with feature `axum`.
#[cfg(not(feature = "axum"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_problem_axum {
    ($($input:tt)*) => {};
}

/// `IntoResponse` for a type deriving `Problem`, with feature `axum`.
#[cfg(feature = "axum")]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_problem_axum {
    ([$($generics:tt)*] [$($ty:tt)*] [$($where:tt)*]) => {
        #[automatically_derived]
        impl $($generics)* ::staunch::__private::axum::IntoResponse for $($ty)* $($where)* {
            fn into_response(self) -> ::staunch::__private::axum::Response {
                ::staunch::__private::axum::problem_response(&self)
            }
        }
    };
}

/// `ResponseError` for a type deriving `Problem`, with feature `actix`.
#[cfg(not(feature = "actix"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_problem_actix {
    ($($input:tt)*) => {};
}

/// `ResponseError` for a type deriving `Problem`, with feature `actix`.
#[cfg(feature = "actix")]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_problem_actix {
    ([$($generics:tt)*] [$($ty:tt)*] [$($where:tt)*]) => {
        #[automatically_derived]
        impl $($generics)* ::staunch::__private::actix::ResponseError for $($ty)* $($where)* {
            fn status_code(&self) -> ::staunch::__private::actix::StatusCode {
                ::staunch::__private::actix::status_code(self)
            }
            fn error_response(&self) -> ::staunch::__private::actix::HttpResponse {
                ::staunch::__private::actix::problem_response(self)
            }
        }
    };
}
