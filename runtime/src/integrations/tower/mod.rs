//! Every policy as a `tower::Layer`: for axum routers, HTTP clients, and any stack of tower
//! middleware.
//!
//! Each layer takes the values the builders make, and shares the instance it is given: a
//! named breaker or bulkhead from `build_shared` is the registry's, and one from `build` is
//! shared by every service the layer makes. So axum's `Router::layer`, which wraps every route
//! on its own, gives every route one breaker that trips, not one each that never does.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use staunch::tower::{BulkheadLayer, CircuitBreakerLayer, TimeoutLayer};
//! use staunch::{Bulkhead, CircuitBreaker};
//!
//! let products = CircuitBreaker::builder("docs-products").fail_max(5).build_shared().unwrap();
//! let app: Router = Router::new()
//!     .route("/products", get(|| async { "[]" }))
//!     .route("/orders", get(|| async { "[]" }))
//!     // Reading order, as with the attributes: the breaker outside, the timeout innermost.
//!     .layer(TimeoutLayer::new(Duration::from_secs(2)))
//!     .layer(BulkheadLayer::new(Bulkhead::new(10).unwrap()))
//!     .layer(CircuitBreakerLayer::new(products));
//! # let _ = app;
//! # }
//! ```
//!
//! **Errors are typed.** A layer's service keeps the inner service's error type `E` when
//! `E: From<Rejected>` (`tower::BoxError` is one), so a stack of layers has one error type; a
//! retry without a budget, which never rejects, keeps any error type. A
//! service whose error is `Infallible` and whose response is an `http::Response` (an axum
//! router or handler) answers a rejection as its problem response (503, 504, 429, with
//! `Retry-After`), so every layer goes into `Router::layer` as it is. Any other error type is
//! kept in an [`Error`] with `.wrap_errors()` on the layer.
//!
//! **Classification** is [`Classify`] on errors and [`ClassifyResponse`] on
//! responses: an `http::Response` is classified by its status (5xx, 408 and 429 are failures;
//! 408, 429, 500 and 502–504 are retried) and its `Retry-After`, as `derive(Problem)` classifies
//! a status. An error type of your own that carries a `Rejected` says so with
//! [`Classify::rejection`] (`derive(Problem)` does, through a `transparent` variant), so that
//! the layers outside judge it as the rejection. A classifier of your own is a closure (returning a [`Class`], or `true` for a
//! failure worth retrying) or a [`Classifier`] impl, given with `.classify(..)`. A rejection by
//! a layer inside is judged as the rejection wherever it travels: a `Rejected`, a `BoxError`
//! holding one, an [`Error::Rejected`], the problem response of one, or an error whose
//! [`Classify::rejection`] returns it.
//!
//! **Readiness**: an open breaker, a full bulkhead or a saturated rate limiter never fails
//! `poll_ready`, which reports the inner service's readiness; `call` answers the rejection at
//! once, without calling the inner service. So `Buffer`, axum and hyper keep working while a
//! dependency is down.

mod body;
mod breaker;
mod bulkhead;
mod classify;
mod rate_limit;
mod retry;
mod timeout;

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use self::body::BufferedRetryFuture;
pub use self::breaker::{CircuitBreakerFuture, CircuitBreakerLayer, CircuitBreakerService};
pub use self::bulkhead::{BulkheadFuture, BulkheadLayer, BulkheadService};
pub use self::classify::{ByError, Class, Classifier, ClassifyResponse, Standard};
pub use self::rate_limit::{RateLimitFuture, RateLimitLayer, RateLimitService};
pub use self::retry::{Buffered, Cloned, RetryFuture, RetryLayer, RetryService};
pub use self::timeout::{TimeoutFuture, TimeoutLayer, TimeoutService};
use tower_service::Service;

use crate::problem::ProblemResponse;
use crate::{Classify, Problem, Rejected};

/// A layer's hold on the instance it runs calls through: one from `build_shared` (`&'static`),
/// or one the layer owns (from `build`, or an `Arc` you keep to read its metrics). Every service
/// a layer makes holds the same instance.
///
/// ```
/// use std::sync::Arc;
/// use staunch::CircuitBreaker;
/// use staunch::tower::CircuitBreakerLayer;
///
/// let owned = Arc::new(CircuitBreaker::builder("docs-handle").build().unwrap());
/// let layer = CircuitBreakerLayer::new(Arc::clone(&owned));
/// # let _ = layer;
/// assert_eq!(owned.name(), "docs-handle");
/// ```
pub struct Handle<T: 'static>(Inner<T>);

enum Inner<T: 'static> {
    Shared(&'static T),
    Owned(Arc<T>),
}

impl<T> Clone for Handle<T> {
    #[inline]
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Inner::Shared(shared) => Inner::Shared(shared),
            Inner::Owned(owned) => Inner::Owned(Arc::clone(owned)),
        })
    }
}

impl<T> Deref for Handle<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match &self.0 {
            Inner::Shared(shared) => shared,
            Inner::Owned(owned) => owned,
        }
    }
}

impl<T> From<&'static T> for Handle<T> {
    fn from(shared: &'static T) -> Self {
        Self(Inner::Shared(shared))
    }
}

impl<T> From<Arc<T>> for Handle<T> {
    fn from(owned: Arc<T>) -> Self {
        Self(Inner::Owned(owned))
    }
}

impl<T> From<T> for Handle<T> {
    fn from(owned: T) -> Self {
        Self(Inner::Owned(Arc::new(owned)))
    }
}

impl<T: fmt::Debug> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The error of a layer's service over an inner service whose error cannot carry a rejection
/// (`.wrap_errors()` on the layer). It converts into `tower::BoxError`, and layers stacked on
/// it keep it as it is: it carries their rejections too.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use staunch::{CircuitBreaker, Rejected};
/// use staunch::tower::{CircuitBreakerLayer, Error};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("disk on fire")]
/// struct Disk;
///
/// let breaker = Arc::new(CircuitBreaker::builder("docs-wrapped").build().unwrap());
/// let service = CircuitBreakerLayer::new(Arc::clone(&breaker))
///     .classify(staunch::tower::ByError)
///     .wrap_errors()
///     .layer(service_fn(|(): ()| async { Err::<(), _>(std::io::Error::other(Disk)) }));
/// assert!(matches!(service.clone().oneshot(()).await, Err(Error::Inner(_))));
/// breaker.force_open();
/// let refused = service.oneshot(()).await;
/// assert!(matches!(refused, Err(Error::Rejected(Rejected::CircuitOpen { .. }))));
/// // Into `tower::BoxError`, as every error of a tower stack goes.
/// let boxed: tower::BoxError = refused.unwrap_err().into();
/// assert!(boxed.to_string().contains("is open"));
/// # }
/// ```
#[derive(Debug)]
pub enum Error<E> {
    /// A layer refused or abandoned the call.
    Rejected(Rejected),
    /// The inner service's own error.
    Inner(E),
}

impl<E> From<Rejected> for Error<E> {
    fn from(rejected: Rejected) -> Self {
        Self::Rejected(rejected)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(rejected) => fmt::Display::fmt(rejected, f),
            Self::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// Transparent: the source of the inner error, or none for a rejection.
impl<E: std::error::Error> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(_) => None,
            Self::Inner(e) => e.source(),
        }
    }
}

impl<E: Classify> Classify for Error<E> {
    fn is_transient(&self) -> bool {
        match self {
            Self::Rejected(rejected) => rejected.is_transient(),
            Self::Inner(e) => e.is_transient(),
        }
    }
    fn is_failure(&self) -> bool {
        match self {
            Self::Rejected(rejected) => rejected.is_failure(),
            Self::Inner(e) => e.is_failure(),
        }
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Rejected(rejected) => rejected.retry_after(),
            Self::Inner(e) => e.retry_after(),
        }
    }
    fn rejection(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(rejected) => Some(rejected),
            Self::Inner(e) => e.rejection(),
        }
    }
}

/// How a layer's service answers, over an inner service answering `Res` or failing with `E`:
/// its error type, and what a rejection becomes.
#[diagnostic::on_unimplemented(
    message = "the error type `{E}` of the inner service cannot carry staunch's rejections",
    label = "this layer can refuse a call",
    note = "implement `From<staunch::Rejected>` for `{E}`, or call `.wrap_errors()` on the layer to answer `staunch::tower::Error<{E}>`"
)]
pub trait Answer<Res, E> {
    /// The error type of the layer's service.
    type Error;

    /// The inner service's error, as the layer's.
    fn error(error: E) -> Self::Error;

    /// A rejection, as the layer's result.
    ///
    /// # Errors
    /// The rejection in the layer's error type, unless it is answered as a response.
    fn rejected(rejected: Rejected) -> Result<Res, Self::Error>;
}

/// The inner service's error type is the layer's (the default): `E: From<Rejected>` carries
/// the rejection, and an HTTP service that cannot fail answers it as a problem response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep;

// Not recommended in diagnostics: "`E: From<Rejected>` is not satisfied" would hide the
// other way out, `.wrap_errors()`, which `Answer`'s own message names.
#[diagnostic::do_not_recommend]
impl<Res, E: From<Rejected>> Answer<Res, E> for Keep {
    type Error = E;

    #[inline]
    fn error(error: E) -> E {
        error
    }

    fn rejected(rejected: Rejected) -> Result<Res, E> {
        Err(E::from(rejected))
    }
}

/// An axum router or handler: the rejection's problem response (503 or 504,
/// `application/problem+json`, `Retry-After`), which carries the rejection in its extensions
/// so that layers outside tell it from the handler's own 503.
impl<B: From<Vec<u8>>> Answer<http::Response<B>, Infallible> for Keep {
    type Error = Infallible;

    #[inline]
    fn error(error: Infallible) -> Infallible {
        error
    }

    fn rejected(rejected: Rejected) -> Result<http::Response<B>, Infallible> {
        let mut response = ProblemResponse::of(&rejected).into_http::<B>();
        response.extensions_mut().insert(rejected);
        Ok(response)
    }
}

/// The inner service's error type, for a layer that never rejects: a [`RetryLayer`] without a
/// budget (the default). [`RetryLayer::with_budget`] answers with [`Keep`] instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pass;

impl<Res, E> Answer<Res, E> for Pass {
    type Error = E;

    #[inline]
    fn error(error: E) -> E {
        error
    }

    fn rejected(rejected: Rejected) -> Result<Res, E> {
        unreachable!("a retry without a budget never rejects, yet it was refused: {rejected}")
    }
}

/// How a retry layer answers once it spends from a budget, which can end a call with
/// `Rejected::BudgetExhausted`: [`Pass`] becomes [`Keep`]; the others stay.
pub trait Budgeted {
    /// The answer with a budget.
    type Answer;
}

impl Budgeted for Pass {
    type Answer = Keep;
}

impl Budgeted for Keep {
    type Answer = Keep;
}

impl Budgeted for Wrap {
    type Answer = Wrap;
}

/// The layer's error is an [`Error`] holding the inner service's error or the rejection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wrap;

impl<Res, E> Answer<Res, E> for Wrap {
    type Error = Error<E>;

    #[inline]
    fn error(error: E) -> Error<E> {
        Error::Inner(error)
    }

    fn rejected(rejected: Rejected) -> Result<Res, Error<E>> {
        Err(Error::Rejected(rejected))
    }
}

/// The inner service's readiness, its error in the layer's type: every layer's `poll_ready`,
/// which no policy makes fail.
#[inline]
fn poll_ready<S: Service<Req>, Req, M: Answer<S::Response, S::Error>>(
    inner: &mut S,
    cx: &mut Context<'_>,
) -> Poll<Result<(), M::Error>> {
    match inner.poll_ready(cx) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
        Poll::Ready(Err(e)) => Poll::Ready(Err(M::error(e))),
        Poll::Pending => Poll::Pending,
    }
}

/// The answer type of a layer: a function pointer type, so a layer is `Send + Sync` whatever
/// the marker.
type AnswerWith<M> = PhantomData<fn() -> M>;

/// `Problem` for [`Error`]: the rejection's problem, or the inner error's.
impl<E: Problem> Problem for Error<E> {
    fn status(&self) -> u16 {
        match self {
            Self::Rejected(rejected) => rejected.status(),
            Self::Inner(e) => e.status(),
        }
    }
    fn type_uri(&self) -> &str {
        match self {
            Self::Rejected(rejected) => rejected.type_uri(),
            Self::Inner(e) => e.type_uri(),
        }
    }
    fn title(&self) -> &str {
        match self {
            Self::Rejected(rejected) => rejected.title(),
            Self::Inner(e) => e.title(),
        }
    }
    fn detail(&self) -> Option<String> {
        match self {
            Self::Rejected(rejected) => rejected.detail(),
            Self::Inner(e) => e.detail(),
        }
    }
    fn extensions(&self) -> serde_json::Map<String, serde_json::Value> {
        match self {
            Self::Rejected(rejected) => rejected.extensions(),
            Self::Inner(e) => e.extensions(),
        }
    }
}
