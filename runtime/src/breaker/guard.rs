//! The breaker as a layer: `call` for the builder API, and the guard future that
//! `#[circuit_breaker]` expands to.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Admission, CircuitBreaker, Mode, Outcome};
use crate::observe;
use crate::outcome::{Failure, finish, lift, widen};
use crate::{Classify, Rejected, clock};

impl CircuitBreaker {
    /// Runs `f` through the breaker, counting every error as a failure.
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::CircuitOpen { .. })` when the breaker refuses.
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        self.call_with(f, |_| true).await
    }

    /// Runs `f` through the breaker, counting the errors `is_failure` accepts
    /// (others count as successes: the caller's fault, not the dependency's).
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::CircuitOpen { .. })` when the breaker refuses.
    pub async fn call_with<T, E, F, Fut>(
        &self,
        f: F,
        is_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        finish(guard(self, async { lift(f().await) }, is_failure).await)
    }

    /// Runs `f` through the breaker, classifying errors by their [`Classify`] impl.
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::CircuitOpen { .. })` when the breaker refuses.
    pub async fn call_classified<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected> + Classify,
    {
        self.call_with(f, Classify::is_failure).await
    }
}

/// Runs one attempt through `breaker`: the layer that `#[circuit_breaker]` expands to.
///
/// `breaker` is a handle: a reference (`&'static` for a named breaker), or one that owns its
/// breaker (an `Arc`), so that a `'static` future can hold the guard.
///
/// The call is admitted when the future is first polled; dropping it unfinished (a cancelled
/// call) frees its trial slot.
#[inline]
pub fn guard<H, T, E, R, F, P>(breaker: H, attempt: F, is_failure: P) -> Guard<H, F, P>
where
    H: Deref<Target = CircuitBreaker> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    P: FnOnce(&E) -> bool,
{
    Guard {
        breaker,
        attempt,
        is_failure: Some(is_failure),
        ticket: Ticket::new(),
    }
}

/// The slot of a HALF_OPEN trial in flight: dropped unfinished (the call was cancelled, or
/// its attempt panicked), it gives the slot back.
struct TrialSlot<H: Deref<Target = CircuitBreaker>> {
    /// `None` once the trial finished.
    breaker: Option<H>,
    generation: u64,
}

impl<H: Deref<Target = CircuitBreaker>> TrialSlot<H> {
    /// The trial finished: its outcome, recorded by the caller, settles the slot.
    fn finish(mut self) {
        self.breaker = None;
    }
}

impl<H: Deref<Target = CircuitBreaker>> Drop for TrialSlot<H> {
    fn drop(&mut self) {
        if let Some(breaker) = &self.breaker {
            breaker.trial_abandoned(self.generation);
        }
    }
}

/// Where a call's [`Ticket`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unpolled,
    /// Admitted while CLOSED, calls not timed: the hot path.
    Closed,
    /// Admitted as `admission`, timed from `started` when slow calls are tracked.
    Admitted,
    Finished,
}

pin_project_lite::pin_project! {
    /// The future of [`guard`]. Awaited once by the code that the macros generate; like any
    /// future, it is not to be polled again once it has returned `Ready`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<H, F, P>
    where
        H: Deref<Target = CircuitBreaker>,
    {
        breaker: H,
        #[pin]
        attempt: F,
        is_failure: Option<P>,
        // After `attempt`, so dropped after it: a cancelled trial's call is gone before its
        // slot is given back, and never more than `half_open` trials run at once.
        ticket: Ticket<H>,
    }
}

impl<H, T, E, R, F, P> Future for Guard<H, F, P>
where
    H: Deref<Target = CircuitBreaker> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    P: FnOnce(&E) -> bool,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.ticket.is_unpolled()
            && let Err(retry_in_nanos) = this.ticket.admit(this.breaker)
        {
            return Poll::Ready(Err(Failure::Rejected(
                this.breaker.rejection(retry_in_nanos),
            )));
        }
        let result = match this.attempt.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let result = match result {
            Ok(value) if this.ticket.on_hot_path() => {
                this.ticket.settle(this.breaker, Outcome::Success);
                return Poll::Ready(Ok(value));
            }
            result => widen(result),
        };
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(Failure::Error(e)) => match this.is_failure.take() {
                Some(is_failure) => {
                    if is_failure(e) {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    }
                }
                None => Outcome::Failure,
            },
            Err(Failure::Rejected(r)) => {
                if r.is_failure() {
                    Outcome::Failure
                } else {
                    Outcome::Ignored
                }
            }
        };
        this.ticket.settle(this.breaker, outcome);
        Poll::Ready(result)
    }
}

/// A call's admission by the breaker, and what recording its outcome needs: held in place by
/// the guard future (admitted at its first poll) and by a tower service's future (admitted in
/// `call`, before the inner service sees the request). Dropped unsettled (the call was
/// cancelled), a trial gives its slot back.
pub(crate) struct Ticket<H: Deref<Target = CircuitBreaker>> {
    stage: Stage,
    admission: Admission,
    started: Option<u64>,
    trial: Option<TrialSlot<H>>,
}

impl<H: Deref<Target = CircuitBreaker> + Clone> Ticket<H> {
    /// A call not admitted yet.
    #[inline]
    pub(crate) const fn new() -> Self {
        Self {
            stage: Stage::Unpolled,
            admission: Admission::Closed,
            started: None,
            trial: None,
        }
    }

    #[inline]
    fn is_unpolled(&self) -> bool {
        self.stage == Stage::Unpolled
    }

    /// Admitted while CLOSED and untimed: a success needs no classification.
    #[inline]
    fn on_hot_path(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// Admits the call, or says in how many nanoseconds to retry (the caller makes the
    /// rejection where it returns it, so that it is built once).
    #[inline]
    pub(crate) fn admit(&mut self, breaker: &H) -> Result<(), u64> {
        if breaker.load().is_closed_untimed() {
            self.stage = Stage::Closed;
            return Ok(());
        }
        breaker.admit_guarded(&mut self.stage, &mut self.admission, &mut self.started)?;
        if let Admission::Trial(generation) = self.admission {
            self.trial = Some(TrialSlot {
                breaker: Some(breaker.clone()),
                generation,
            });
        }
        Ok(())
    }

    /// Records the call's outcome, once.
    #[inline]
    pub(crate) fn settle(&mut self, breaker: &CircuitBreaker, outcome: Outcome) {
        let stage = std::mem::replace(&mut self.stage, Stage::Finished);
        if stage == Stage::Closed && outcome == Outcome::Success {
            // No trial slot is held in CLOSED.
            breaker.record(Admission::Closed, Outcome::Success, false);
            return;
        }
        if let Some(trial) = self.trial.take() {
            trial.finish();
        }
        breaker.settle(stage, self.admission, self.started, outcome);
    }
}

/// The guard's steps off the hot path: not generic, so compiled once for every guarded
/// function, and out of line, so the hot path stays small enough to inline.
impl CircuitBreaker {
    /// Admits a call that is not on the hot path, or says in how many nanoseconds to retry.
    #[inline(never)]
    fn admit_guarded(
        &self,
        stage: &mut Stage,
        admission: &mut Admission,
        started: &mut Option<u64>,
    ) -> Result<(), u64> {
        match self.admit_not_closed() {
            Ok(admitted) => {
                *admission = admitted;
                *started = self.times_calls().then(clock::now);
                *stage = Stage::Admitted;
                Ok(())
            }
            Err(retry_in_nanos) => {
                *stage = Stage::Finished;
                Err(retry_in_nanos)
            }
        }
    }

    /// Records the outcome of a call that left the hot path.
    #[inline(never)]
    fn settle(&self, stage: Stage, admission: Admission, started: Option<u64>, outcome: Outcome) {
        let (admission, started) = match stage {
            Stage::Closed => (Admission::Closed, None),
            // Let through by a disabled breaker: nothing to count (resilience4j's DISABLED).
            Stage::Admitted
                if matches!(admission, Admission::Passed)
                    && self.settings.mode() == Mode::Disabled =>
            {
                return;
            }
            Stage::Admitted => (admission, started),
            Stage::Unpolled | Stage::Finished => {
                panic!("`circuit_breaker` polled after completion")
            }
        };
        let took = started.map(|started| clock::now().saturating_sub(started));
        if let Some(took) = took {
            observe::call_timed(
                &self.hub,
                self.name,
                outcome.into(),
                Duration::from_nanos(took),
            );
        }
        // Strictly longer: a call of exactly `slow_call` is not slow.
        let slow = took.is_some_and(|took| self.settings.is_slow(took));
        self.record(admission, outcome, slow);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::guard;
    use crate::outcome::{finish, lift};
    use crate::{CircuitBreaker, CircuitState, Rejected};

    /// The guard a `'static` future (a tower service's, a spawned task's) holds: it owns its
    /// breaker through the handle.
    fn owned_call(
        breaker: &Arc<CircuitBreaker>,
        fails: bool,
    ) -> impl Future<Output = Result<(), Rejected>> + Send + 'static {
        let attempt = async move {
            tokio::task::yield_now().await;
            lift(if fails {
                Err(Rejected::Timeout {
                    after: Duration::ZERO,
                })
            } else {
                Ok(())
            })
        };
        let guarded = guard(Arc::clone(breaker), attempt, |_: &Rejected| true);
        async move { finish::<(), Rejected, Rejected>(guarded.await) }
    }

    #[tokio::test(start_paused = true)]
    async fn a_guard_owning_its_breaker_runs_in_a_spawned_task_and_lets_it_go() {
        let breaker = Arc::new(
            CircuitBreaker::builder("owned-guard")
                .fail_max(2)
                .reset(Duration::from_secs(1))
                .build()
                .unwrap(),
        );
        for _ in 0..2 {
            let _ = tokio::spawn(owned_call(&breaker, true)).await.unwrap();
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(1)).await;
        // `reset` has passed: the next call is a trial, holding the breaker in its slot.
        tokio::spawn(owned_call(&breaker, false))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(breaker.state(), CircuitState::Closed);
        // A cancelled trial gives its slot back and its handle with it.
        for _ in 0..2 {
            let _ = owned_call(&breaker, true).await;
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut cancelled = Box::pin(owned_call(&breaker, false));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(cancelled.as_mut().poll(&mut cx).is_pending());
        drop(cancelled);
        assert_eq!(breaker.metrics().state, CircuitState::HalfOpen);
        tokio::spawn(owned_call(&breaker, false))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(breaker.state(), CircuitState::Closed);
        // Every guard, trial slot and spawned task has given its handle back.
        assert_eq!(Arc::strong_count(&breaker), 1);
    }
}
