//! The timeout: the inner call is dropped once its time is up.
//!
//! As `tokio::time::timeout`, with one saving: the timer is made only when the inner call does
//! not finish at its first poll, so a call that is ready at once reads the clock and nothing
//! more. The deadline is still taken when the call starts.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::coop;
use tokio::time::{Instant, Sleep};

use crate::Rejected;
use crate::outcome::{Failure, widen};

/// Runs one attempt for at most `after`: the layer that `#[timeout]` expands to.
#[inline]
pub fn guard<T, E, R, F>(after: Duration, attempt: F) -> Guard<F>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    Guard {
        after,
        attempt,
        deadline: None,
        delay: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`guard`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<F> {
        after: Duration,
        #[pin]
        attempt: F,
        // Taken at the first poll; `Some(None)` when `after` reaches beyond the clock's range.
        deadline: Option<Option<Instant>>,
        #[pin]
        delay: Option<Sleep>,
    }
}

impl<T, E, R, F> Future for Guard<F>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Plain matches rather than combinators taking closures: this is instantiated for
        // every guarded function, and each closure would be one more function to compile.
        let mut this = self.project();
        let deadline = match *this.deadline {
            Some(deadline) => deadline,
            None => *this
                .deadline
                .insert(Instant::now().checked_add(*this.after)),
        };
        let had_budget_before = coop::has_budget_remaining();
        if let Poll::Ready(result) = this.attempt.poll(cx) {
            return Poll::Ready(widen(result));
        }
        if this.delay.is_none() {
            let Some(deadline) = deadline else {
                return Poll::Pending;
            };
            this.delay.set(Some(tokio::time::sleep_until(deadline)));
        }
        let Some(delay) = this.delay.as_pin_mut() else {
            return Poll::Pending;
        };
        // As `tokio::time::timeout`: when the inner call spent the task's budget, the timer is
        // still checked.
        let elapsed = if had_budget_before && !coop::has_budget_remaining() {
            Pin::new(&mut coop::unconstrained(delay)).poll(cx)
        } else {
            delay.poll(cx)
        };
        match elapsed {
            Poll::Ready(()) => Poll::Ready(Err(Failure::Rejected(Rejected::Timeout {
                after: *this.after,
            }))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `f` for at most `after`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use staunch::Rejected;
///
/// let slow = staunch::timeout(Duration::from_secs(2), || async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, Rejected>(())
/// });
/// assert_eq!(slow.await, Err(Rejected::Timeout { after: Duration::from_secs(2) }));
/// # }
/// ```
///
/// # Errors
/// `f`'s error, or `E::from(Rejected::Timeout { .. })` when time ran out.
pub async fn timeout<T, E, F, Fut>(after: Duration, f: F) -> Result<T, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    crate::outcome::finish(guard(after, async { crate::outcome::lift(f().await) }).await)
}
