//! Glue for the code that staunch's macros generate. Not a public API.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

pub use crate::breaker::guard as circuit_breaker;
pub use crate::bulkhead::guard as bulkhead;
pub use crate::failure::{Failure, finish, lift};
pub use crate::retry::{Attempts, Next, Verdict};
pub use crate::timeout::guard as timeout;
pub use crate::{
    Backoff, BreakerConfig, BudgetConfig, BulkheadConfig, Jitter, RetryPolicy, SlowCalls, Trip,
};
pub use tokio::time::sleep;

use crate::{Bulkhead, CircuitBreaker, Classify, RetryBudget, registry};

/// Extension members of a derived `Problem`.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// An extension member's value; a value serde cannot represent as JSON becomes `null`.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// What a `#[problem(retry_after)]` field may hold: a `Duration`, whole seconds, or either
/// in an `Option`.
#[diagnostic::on_unimplemented(
    message = "a `#[problem(retry_after)]` field must hold a `Duration` or whole seconds, not `{Self}`",
    label = "not a `Duration`, `u64` or `u32` (or an `Option` of one)"
)]
pub trait RetryAfterField {
    fn retry_after(&self) -> Option<Duration>;
}

impl RetryAfterField for Duration {
    fn retry_after(&self) -> Option<Duration> {
        Some(*self)
    }
}

impl RetryAfterField for u64 {
    fn retry_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(*self))
    }
}

impl RetryAfterField for u32 {
    fn retry_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(*self)))
    }
}

impl<T: RetryAfterField> RetryAfterField for Option<T> {
    fn retry_after(&self) -> Option<Duration> {
        self.as_ref().and_then(RetryAfterField::retry_after)
    }
}

/// A call site's breaker: resolved in the registry on first use, then one atomic load.
#[derive(Debug)]
pub struct BreakerSlot {
    config: BreakerConfig,
    breaker: OnceLock<&'static CircuitBreaker>,
}

impl BreakerSlot {
    #[must_use]
    pub const fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            breaker: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static CircuitBreaker {
        self.breaker
            .get_or_init(|| registry::global().breaker_or_insert(&self.config))
    }
}

/// A call site's bulkhead, resolved like [`BreakerSlot`].
#[derive(Debug)]
pub struct BulkheadSlot {
    config: BulkheadConfig,
    bulkhead: OnceLock<&'static Bulkhead>,
}

impl BulkheadSlot {
    #[must_use]
    pub const fn new(config: BulkheadConfig) -> Self {
        Self {
            config,
            bulkhead: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static Bulkhead {
        self.bulkhead
            .get_or_init(|| registry::global().bulkhead_or_insert(&self.config))
    }
}

/// A call site's retry budget, resolved like [`BreakerSlot`].
#[derive(Debug)]
pub struct BudgetSlot {
    config: BudgetConfig,
    budget: OnceLock<&'static RetryBudget>,
}

impl BudgetSlot {
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self {
            config: BudgetConfig::default_for(name),
            budget: OnceLock::new(),
        }
    }

    #[inline]
    pub fn get(&self) -> &'static RetryBudget {
        self.budget
            .get_or_init(|| registry::global().budget_or_insert(&self.config))
    }
}

/// Names the error type of an annotated function's return type.
#[diagnostic::on_unimplemented(
    message = "staunch attributes need a function returning `Result<T, E>`, not `{Self}`",
    label = "not a `Result`"
)]
pub trait ReturnsResult {
    type Err;
}

impl<T, E> ReturnsResult for Result<T, E> {
    type Err = E;
}

/// Fails to compile, on the return type, unless `R` is a `Result`.
#[inline]
pub const fn returns_result<R: ReturnsResult>() {}

/// An argument that retry or fallback needs once more per call.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must be `Clone`: retry and fallback pass this argument again on each call",
    label = "owned argument that is not `Clone`",
    note = "derive or implement `Clone` for it, or take it by reference"
)]
pub trait ArgClone: Sized {
    fn clone_arg(&self) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Clone> ArgClone for T {
    #[inline]
    fn clone_arg(&self) -> Self {
        self.clone()
    }
}

#[inline]
pub fn clone_arg<T: ArgClone>(arg: &T) -> T {
    arg.clone_arg()
}

/// Autoref specialisation: `(&Probe(e)).staunch_transient()` uses `E: Classify` when `E` has
/// it (the by-value impl below wins method resolution) and falls back to "every error counts".
pub struct Probe<'a, E>(pub &'a E);

pub trait ViaClassify {
    fn staunch_transient(&self) -> bool;
    fn staunch_failure(&self) -> bool;
    fn staunch_retry_after(&self) -> Option<Duration>;
}

impl<E: Classify> ViaClassify for Probe<'_, E> {
    #[inline]
    fn staunch_transient(&self) -> bool {
        self.0.is_transient()
    }
    #[inline]
    fn staunch_failure(&self) -> bool {
        self.0.is_failure()
    }
    #[inline]
    fn staunch_retry_after(&self) -> Option<Duration> {
        self.0.retry_after()
    }
}

pub trait ViaEveryError {
    #[inline]
    fn staunch_transient(&self) -> bool {
        true
    }
    #[inline]
    fn staunch_failure(&self) -> bool {
        true
    }
    #[inline]
    fn staunch_retry_after(&self) -> Option<Duration> {
        None
    }
}

impl<E> ViaEveryError for &Probe<'_, E> {}

/// `(&Probe(e)).staunch_fmt(f)`: the error's `Debug` when it has one, its type name otherwise.
pub trait ViaDebug {
    fn staunch_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<E: fmt::Debug> ViaDebug for Probe<'_, E> {
    fn staunch_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

pub trait ViaTypeName {
    fn staunch_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<E> ViaTypeName for &Probe<'_, E> {
    fn staunch_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<E>())
    }
}

/// What a derived `Problem`'s `IntoResponse` impl calls.
#[cfg(feature = "axum")]
pub mod axum {
    pub use crate::axum_support::problem_response;
    pub use axum::response::{IntoResponse, Response};
}
