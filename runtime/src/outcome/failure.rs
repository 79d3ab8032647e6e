//! What travels between layers: the function's own error, or a layer's rejection.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::Rejected;

/// The error side of a layer's result inside a stack of layers.
///
/// `R` is [`Rejected`] once some inner layer can reject, and [`Infallible`] before that, so
/// a stack without rejecting layers never asks the error type for `From<Rejected>`.
#[derive(Debug)]
pub enum Failure<E, R = Rejected> {
    /// The function's own error.
    Error(E),
    /// A layer refused or abandoned the call.
    Rejected(R),
}

/// Inspects a rejection that may not exist (`Infallible`).
pub trait AsRejected: Into<Rejected> + Sized {
    /// The rejection, if this value is one.
    fn as_rejected(&self) -> &Rejected;

    /// `rejected` as this type, if it can hold one (`Infallible` cannot).
    fn from_rejected(rejected: Rejected) -> Option<Self>;
}

impl AsRejected for Rejected {
    fn as_rejected(&self) -> &Rejected {
        self
    }

    fn from_rejected(rejected: Rejected) -> Option<Self> {
        Some(rejected)
    }
}

impl AsRejected for Infallible {
    fn as_rejected(&self) -> &Rejected {
        match *self {}
    }

    fn from_rejected(_: Rejected) -> Option<Self> {
        None
    }
}

/// Converts a stack's rejection into the function's error type, once, at the outermost layer.
#[diagnostic::on_unimplemented(
    message = "the error type `{E}` cannot carry staunch's rejections",
    label = "this layer can reject a call, so `{E}` needs `From<staunch::Rejected>`",
    note = "implement `From<staunch::Rejected>` for `{E}` (with thiserror: a variant `#[error(transparent)] Rejected(#[from] staunch::Rejected)`)"
)]
pub trait IntoError<E> {
    /// Converts into the function's error.
    fn into_error(self) -> E;
}

#[diagnostic::do_not_recommend]
impl<E: From<Rejected>> IntoError<E> for Rejected {
    fn into_error(self) -> E {
        E::from(self)
    }
}

// Hidden from diagnostics too: "implemented for `Infallible`" only distracts from the fix.
#[diagnostic::do_not_recommend]
impl<E> IntoError<E> for Infallible {
    fn into_error(self) -> E {
        match self {}
    }
}

/// Names the error type of an annotated function's return type.
///
/// The expansion passes the body's value through `into_result` and back through `from_result`,
/// both spanned on the return type: when it is not a `Result`, this is the only error reported,
/// instead of type mismatches inside the expansion.
#[diagnostic::on_unimplemented(
    message = "staunch attributes need a function returning `Result<T, E>`, not `{Self}`",
    label = "not a `Result`"
)]
pub trait ReturnsResult: Sized {
    type Ok;
    type Err;
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
    fn from_result(result: Result<Self::Ok, Self::Err>) -> Self;
}

impl<T, E> ReturnsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_result(self) -> Self {
        self
    }
    #[inline]
    fn from_result(result: Self) -> Self {
        result
    }
}

/// Lifts a function's result into a layer's result.
#[inline]
pub fn lift<T, E>(result: Result<T, E>) -> Result<T, Failure<E, Infallible>> {
    // These conversions are instantiated for every annotated function's types: plain
    // matches, so that no closure or combinator is compiled with each.
    match result {
        Ok(value) => Ok(value),
        Err(e) => Err(Failure::Error(e)),
    }
}

pin_project_lite::pin_project! {
    /// One attempt of an annotated function's body, as the innermost layer: its result lifted.
    ///
    /// A future rather than an async block, so that a stack of layers nests plain futures;
    /// built by the generated code as a struct, so it instantiates no constructor.
    #[must_use = "futures do nothing unless polled"]
    pub struct Attempt<F> {
        #[pin]
        pub body: F,
    }
}

impl<F> Future for Attempt<F>
where
    F: Future,
    F::Output: ReturnsResult,
{
    type Output = Result<
        <F::Output as ReturnsResult>::Ok,
        Failure<<F::Output as ReturnsResult>::Err, Infallible>,
    >;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().body.poll(cx) {
            Poll::Ready(result) => Poll::Ready(lift(result.into_result())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Converts a layer's result back to the function's result.
#[inline]
pub fn finish<T, E, R: IntoError<E>>(result: Result<T, Failure<E, R>>) -> Result<T, E> {
    match result {
        Ok(value) => Ok(value),
        Err(Failure::Error(e)) => Err(e),
        Err(Failure::Rejected(r)) => Err(r.into_error()),
    }
}

std::thread_local! {
    /// The rejection a group of layers just turned into the function's error, for the group
    /// above it across another attribute macro (`#[tracing::instrument]`) to recognise.
    static CROSSING: Cell<Option<Rejected>> = const { Cell::new(None) };
}

/// Like [`finish`], for a group of layers below another attribute macro and another group of
/// layers: a rejection converted here is noted, so the group above still tells it from the
/// function's own errors. Both happen in the same poll, on the same thread.
#[inline]
pub fn finish_crossing<T, E, R: IntoError<E> + AsRejected>(
    result: Result<T, Failure<E, R>>,
) -> Result<T, E> {
    // Written whatever the outcome: a note is about this call's result alone.
    match result {
        Ok(value) => {
            CROSSING.set(None);
            Ok(value)
        }
        Err(Failure::Error(e)) => {
            CROSSING.set(None);
            Err(e)
        }
        Err(Failure::Rejected(r)) => {
            CROSSING.set(Some(r.as_rejected().clone()));
            Err(r.into_error())
        }
    }
}

/// Forgets a noted rejection: a fallback answered for it.
#[inline]
pub fn clear_crossing() {
    CROSSING.set(None);
}

pin_project_lite::pin_project! {
    /// The innermost layer of a group above another attribute macro: like [`Attempt`], and an
    /// error that a group below noted as a rejection is a rejection again.
    #[must_use = "futures do nothing unless polled"]
    pub struct Crossing<F> {
        #[pin]
        pub body: F,
    }
}

impl<F> Future for Crossing<F>
where
    F: Future,
    F::Output: ReturnsResult,
{
    type Output =
        Result<<F::Output as ReturnsResult>::Ok, Failure<<F::Output as ReturnsResult>::Err>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A note left by a call that ended elsewhere is not this call's.
        clear_crossing();
        let result = match self.project().body.poll(cx) {
            Poll::Ready(result) => result.into_result(),
            Poll::Pending => return Poll::Pending,
        };
        let noted = CROSSING.take();
        Poll::Ready(match result {
            Ok(value) => Ok(value),
            Err(e) => match noted {
                Some(rejected) => Err(Failure::Rejected(rejected)),
                None => Err(Failure::Error(e)),
            },
        })
    }
}

/// Widens a layer's rejection type to [`Rejected`].
#[inline]
pub fn widen<T, E, R: Into<Rejected>>(result: Result<T, Failure<E, R>>) -> Result<T, Failure<E>> {
    match result {
        Ok(value) => Ok(value),
        Err(Failure::Error(e)) => Err(Failure::Error(e)),
        Err(Failure::Rejected(r)) => Err(Failure::Rejected(r.into())),
    }
}
