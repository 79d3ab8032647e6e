//! The rate limiter as a layer: the guard future that `#[rate_limit]` expands to.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Acquire, RateLimiter};
use crate::Rejected;
use crate::outcome::{Failure, widen};

/// Runs one attempt in its turn of `limiter`: the layer that `#[rate_limit]` expands to.
///
/// `limiter` is a handle: a reference (`&'static` for a call site's limiter), or one that
/// owns it (an `Arc`), so that a `'static` future can hold the guard. The turn is taken when
/// the future is first polled; a refusal is the attempt's `Rejected`.
#[inline]
pub fn guard<H, T, E, R, F>(limiter: H, attempt: F) -> Guard<H, F>
where
    H: Deref<Target = RateLimiter>,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    Guard {
        turn: Acquire::new(limiter),
        attempt,
        admitted: false,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`guard`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<H, F>
    where
        H: Deref<Target = RateLimiter>,
    {
        #[pin]
        turn: Acquire<H>,
        #[pin]
        attempt: F,
        admitted: bool,
    }
}

impl<H, T, E, R, F> Future for Guard<H, F>
where
    H: Deref<Target = RateLimiter>,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.admitted {
            match this.turn.poll(cx) {
                Poll::Ready(Ok(())) => *this.admitted = true,
                Poll::Ready(Err(rejected)) => return Poll::Ready(Err(Failure::Rejected(rejected))),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.attempt.poll(cx).map(widen)
    }
}
