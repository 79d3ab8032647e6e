//! Glue for the code that staunch's macros generate. Not a public API.

use std::fmt;
use std::time::Duration;

pub use crate::breaker::guard as circuit_breaker;
pub use crate::bulkhead::guard as bulkhead;
pub use crate::cache::{
    Args, Cached, Checked, Key, KeyPart, Looked, Lookup, NoKey, ViaKeyPart, ViaNoKey, Whole,
    key_part, made_key,
};
pub use crate::hedge::guard as hedge;
pub use crate::outcome::{
    Attempt, Crossing, Failure, ReturnsResult, clear_crossing, finish, finish_crossing, lift, widen,
};
pub use crate::rate_limit::guard as rate_limit;
pub use crate::registry::{
    BreakerSlot, BudgetSlot, BulkheadSlot, CacheSlot, HedgeSlot, RateLimiterSlot, Site,
};
pub use crate::retry::{Attempts, Next, Verdict};
pub use crate::timeout::guard as timeout;
pub use crate::{
    Backoff, BreakerConfig, BudgetConfig, BulkheadConfig, CacheConfig, HedgeConfig, Jitter,
    RateLimitConfig, RetryPolicy, SlowCalls, Trip,
};
pub use inventory;
pub use tokio::time::sleep;

use crate::{Classify, Problem};

/// How retry writes one of the function's errors into its log line.
pub type Describe<E> = fn(&E, &mut core::fmt::Formatter<'_>) -> core::fmt::Result;

/// Extension members of a derived `Problem`.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// What a `#[problem(extension)]` field may hold: anything serde can serialize.
#[diagnostic::on_unimplemented(
    message = "a `#[problem(extension)]` field must be `serde::Serialize`, and `{Self}` is not",
    label = "not `Serialize`",
    note = "derive or implement `serde::Serialize` for it, or leave the field out of the body"
)]
pub trait ExtensionField {
    /// The member's value; a value serde cannot represent as JSON becomes `null`.
    fn to_json(&self) -> serde_json::Value;
}

#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + ?Sized> ExtensionField for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The field a `#[problem(transparent)]` variant forwards every answer to.
#[diagnostic::on_unimplemented(
    message = "a `#[problem(transparent)]` field must itself be a `staunch::Problem`, and `{Self}` is not",
    label = "not a `Problem`",
    note = "derive `staunch::Problem` for it, or give the variant its own `#[problem(status = ...)]`"
)]
pub trait TransparentField {
    fn problem(&self) -> &dyn Problem;
}

#[diagnostic::do_not_recommend]
impl<P: Problem> TransparentField for P {
    #[inline]
    fn problem(&self) -> &dyn Problem {
        self
    }
}

/// A derived `Problem`'s detail when it shows its `Display`: reached through `Problem`'s
/// supertraits, so a type that is not an `Error` gets the one error of the impl, not another
/// here.
pub fn display_detail<P: Problem + ?Sized>(problem: &P) -> Option<String> {
    Some(problem.to_string())
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

// `do_not_recommend` on each impl: the label already says what a field may hold, and rustc's
// list of impls would say it again by quoting this file.
#[diagnostic::do_not_recommend]
impl RetryAfterField for Duration {
    fn retry_after(&self) -> Option<Duration> {
        Some(*self)
    }
}

#[diagnostic::do_not_recommend]
impl RetryAfterField for u64 {
    fn retry_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(*self))
    }
}

#[diagnostic::do_not_recommend]
impl RetryAfterField for u32 {
    fn retry_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(u64::from(*self)))
    }
}

#[diagnostic::do_not_recommend]
impl<T: RetryAfterField> RetryAfterField for Option<T> {
    fn retry_after(&self) -> Option<Duration> {
        self.as_ref().and_then(RetryAfterField::retry_after)
    }
}

/// Fails to compile, on the return type, unless `R` is a `Result`.
#[inline]
pub const fn returns_result<R: ReturnsResult>() {}

/// An argument that retry, hedge or fallback needs once more per call.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must be `Clone`: retry, hedge and fallback pass this argument again on each call",
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

/// A `when =` or `failure =` predicate over the function's error.
#[diagnostic::on_unimplemented(
    message = "this predicate must be a function `fn(&{E}) -> bool`",
    label = "expected `fn(&{E}) -> bool`"
)]
pub trait Predicate<E> {
    fn test(&self, error: &E) -> bool;
}

#[diagnostic::do_not_recommend]
impl<E, F: Fn(&E) -> bool> Predicate<E> for F {
    #[inline]
    fn test(&self, error: &E) -> bool {
        self(error)
    }
}

/// The function named by `#[fallback(path)]`: it takes the annotated function's arguments
/// (`Args`, a tuple of up to 12) followed by its error `E`. Its output is checked where it is
/// awaited and returned, so that each kind of mismatch gives one error.
#[diagnostic::on_unimplemented(
    message = "this fallback must take the function's arguments `{Args}` followed by its error `{E}`",
    label = "expected a function taking `{Args}` then `{E}`"
)]
pub trait Fallback<Args, E> {
    type Output;
    fn call(self, args: Args, error: E) -> Self::Output;
}

/// Calls `f` with `args` and `error`; `f` comes last so that the argument types are known when
/// its bound is checked.
#[inline]
pub fn fallback<A, E, F: Fallback<A, E>>(args: A, error: E, f: F) -> F::Output {
    f.call(args, error)
}

macro_rules! fallback_arity {
    ($($arg:ident)*) => {
        #[diagnostic::do_not_recommend]
        impl<F, Out, $($arg,)* E> Fallback<($($arg,)*), E> for F
        where
            F: FnOnce($($arg,)* E) -> Out,
        {
            type Output = Out;
            #[inline]
            #[allow(non_snake_case)]
            fn call(self, ($($arg,)*): ($($arg,)*), error: E) -> Out {
                self($($arg,)* error)
            }
        }
    };
}

fallback_arity!();
fallback_arity!(A1);
fallback_arity!(A1 A2);
fallback_arity!(A1 A2 A3);
fallback_arity!(A1 A2 A3 A4);
fallback_arity!(A1 A2 A3 A4 A5);
fallback_arity!(A1 A2 A3 A4 A5 A6);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
fallback_arity!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

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
    pub use crate::integrations::axum::problem_response;
    pub use axum::response::{IntoResponse, Response};
}

/// What a derived `Problem`'s `ResponseError` impl calls.
#[cfg(feature = "actix")]
pub mod actix {
    pub use crate::integrations::actix::{problem_response, status_code};
    pub use actix_web::http::StatusCode;
    pub use actix_web::{HttpResponse, ResponseError};
}

pub use crate::{__impl_problem_actix, __impl_problem_axum};
