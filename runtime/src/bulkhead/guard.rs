//! The bulkhead as a layer: the slot a call holds, and the guard future that `#[bulkhead]`
//! expands to.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Bulkhead;
use crate::Rejected;
use crate::outcome::{Failure, widen};

/// A slot in flight, held through a handle of its bulkhead; dropping it (the call finished
/// or was cancelled) frees it.
pub struct Slot<H: Deref<Target = Bulkhead>>(H);

#[cfg(feature = "tower")]
impl<H: Deref<Target = Bulkhead>> Slot<H> {
    /// Takes a slot if one is free now.
    #[inline]
    pub(crate) fn try_take(bulkhead: &H) -> Option<Self>
    where
        H: Clone,
    {
        bulkhead.try_enter().then(|| Self(bulkhead.clone()))
    }

    /// Waits up to `max_wait` for a slot.
    pub(crate) async fn wait(bulkhead: H) -> Result<Self, Rejected> {
        wait_for(bulkhead).await
    }
}

impl<H: Deref<Target = Bulkhead>> Drop for Slot<H> {
    #[inline]
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Runs one attempt in a slot of `bulkhead`: the layer that `#[bulkhead]` expands to.
///
/// `bulkhead` is a handle: a reference (`&'static` for a named bulkhead), or one that owns
/// its bulkhead (an `Arc`), so that a `'static` future can hold the guard.
///
/// The slot is taken when the future is first polled and freed when the attempt finishes or
/// the future is dropped.
#[inline]
pub fn guard<H, T, E, R, F>(
    bulkhead: H,
    attempt: F,
) -> Guard<H, F, impl Future<Output = Result<(), Rejected>>>
where
    H: Deref<Target = Bulkhead> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    Guard {
        attempt,
        // Polled only when no slot is free at the first poll. (Made here, not then: an
        // `Option` of it costs the fast path more than making it does.)
        wait: queue(bulkhead.clone()),
        bulkhead,
        stage: Stage::Unpolled,
        slot: None,
    }
}

/// Waits in the queue of the bulkhead `handle` points to; the slot is the guard's to take. (Its
/// output names no handle: a future whose output held one, made in a closure as a hedge
/// makes its attempts, failed rustc's check that the function's future is `Send`.)
async fn queue<H: Deref<Target = Bulkhead>>(handle: H) -> Result<(), Rejected> {
    handle.wait().await
}

/// Waits for a slot of the bulkhead `handle` points to.
#[cfg(feature = "tower")]
async fn wait_for<H: Deref<Target = Bulkhead>>(handle: H) -> Result<Slot<H>, Rejected> {
    handle.wait().await?;
    Ok(Slot(handle))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unpolled,
    Waiting,
    Running,
}

pin_project_lite::pin_project! {
    /// The future of [`guard`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<H, F, W>
    where
        H: Deref<Target = Bulkhead>,
    {
        bulkhead: H,
        #[pin]
        attempt: F,
        #[pin]
        wait: W,
        stage: Stage,
        slot: Option<Slot<H>>,
    }
}

impl<H, T, E, R, F, W> Future for Guard<H, F, W>
where
    H: Deref<Target = Bulkhead> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    W: Future<Output = Result<(), Rejected>>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.stage != Stage::Running {
            if *this.stage == Stage::Unpolled {
                if this.bulkhead.try_enter() {
                    *this.slot = Some(Slot(this.bulkhead.clone()));
                }
                *this.stage = Stage::Waiting;
            }
            if this.slot.is_none() {
                match this.wait.poll(cx) {
                    Poll::Ready(Ok(())) => *this.slot = Some(Slot(this.bulkhead.clone())),
                    Poll::Ready(Err(rejected)) => {
                        return Poll::Ready(Err(Failure::Rejected(rejected)));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            *this.stage = Stage::Running;
        }
        let result = match this.attempt.poll(cx) {
            Poll::Ready(result) => widen(result),
            Poll::Pending => return Poll::Pending,
        };
        // Freed before the caller sees the result, as when the slot was a local of the layer.
        *this.slot = None;
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Bulkhead, guard};
    use crate::Rejected;
    use crate::outcome::{finish, lift};

    /// The guard a `'static` future holds: it owns its bulkhead through the handle.
    fn owned_call(
        bulkhead: &Arc<Bulkhead>,
        busy: Duration,
    ) -> impl Future<Output = Result<(), Rejected>> + Send + 'static {
        let attempt = async move {
            tokio::time::sleep(busy).await;
            lift(Ok::<(), Rejected>(()))
        };
        let guarded = guard(Arc::clone(bulkhead), attempt);
        async move { finish::<(), Rejected, Rejected>(guarded.await) }
    }

    #[tokio::test(start_paused = true)]
    async fn guards_owning_their_bulkhead_wait_run_and_let_it_go() {
        for max_wait in [Duration::ZERO, Duration::from_millis(50)] {
            let bulkhead = Arc::new(
                Bulkhead::builder(1)
                    .name("owned-guard")
                    .max_wait(max_wait)
                    .build()
                    .unwrap(),
            );
            let first = tokio::spawn(owned_call(&bulkhead, Duration::from_millis(30)));
            tokio::task::yield_now().await;
            assert_eq!(bulkhead.metrics().in_flight, 1);
            let second = tokio::spawn(owned_call(&bulkhead, Duration::from_millis(30)));
            assert_eq!(first.await.unwrap(), Ok(()));
            let second = second.await.unwrap();
            if max_wait.is_zero() {
                assert!(matches!(
                    second,
                    Err(Rejected::BulkheadFull { limit: 1, .. })
                ));
            } else {
                assert_eq!(second, Ok(()), "waited for the first call's slot");
            }
            // A waiter cancelled in the queue, and a call cancelled in its slot.
            let mut running = Box::pin(owned_call(&bulkhead, Duration::from_secs(1)));
            let mut waiting = Box::pin(owned_call(&bulkhead, Duration::from_secs(1)));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(running.as_mut().poll(&mut cx).is_pending());
            let _ = waiting.as_mut().poll(&mut cx);
            drop((running, waiting));
            assert_eq!(bulkhead.metrics().in_flight, 0);
            assert_eq!(
                Arc::strong_count(&bulkhead),
                1,
                "every slot gave its handle back"
            );
        }
    }
}
