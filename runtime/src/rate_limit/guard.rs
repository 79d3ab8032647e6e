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
    H: Deref<Target = RateLimiter> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    Guard {
        limiter,
        turn: None,
        attempt,
        stage: Stage::Unpolled,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unpolled,
    Waiting,
    Running,
    /// Refused: polled again, it answers nothing more.
    Refused,
}

pin_project_lite::pin_project! {
    /// The future of [`guard`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<H, F>
    where
        H: Deref<Target = RateLimiter>,
    {
        limiter: H,
        // Only a turn ahead is waited for through a future.
        #[pin]
        turn: Option<Acquire<H>>,
        #[pin]
        attempt: F,
        stage: Stage,
    }
}

impl<H, T, E, R, F> Future for Guard<H, F>
where
    H: Deref<Target = RateLimiter> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.stage != Stage::Running {
            if *this.stage == Stage::Unpolled {
                *this.stage = Stage::Waiting;
                match this.limiter.turn() {
                    Ok(None) => {}
                    Ok(Some(reserved)) => {
                        let turn = Acquire::reserved(this.limiter.clone(), reserved);
                        this.turn.set(Some(turn));
                    }
                    Err(rejected) => {
                        *this.stage = Stage::Refused;
                        return Poll::Ready(Err(Failure::Rejected(rejected)));
                    }
                }
            }
            assert!(
                *this.stage != Stage::Refused,
                "a rate limiter's guard polled after it refused the call"
            );
            if let Some(turn) = this.turn.as_mut().as_pin_mut() {
                match turn.poll(cx) {
                    Poll::Ready(Ok(())) => this.turn.set(None),
                    Poll::Ready(Err(rejected)) => {
                        return Poll::Ready(Err(Failure::Rejected(rejected)));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            *this.stage = Stage::Running;
        }
        this.attempt.poll(cx).map(widen)
    }
}
