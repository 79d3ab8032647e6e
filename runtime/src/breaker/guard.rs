//! The breaker as a layer: `call` for the builder API, and the guard future that
//! `#[circuit_breaker]` expands to.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Admission, CircuitBreaker, Outcome};
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
/// The call is admitted when the future is first polled; dropping it unfinished (a cancelled
/// call) frees its trial slot.
#[inline]
pub fn guard<'b, T, E, R, F, P>(
    breaker: &'b CircuitBreaker,
    attempt: F,
    is_failure: P,
) -> Guard<'b, F, P>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    P: FnOnce(&E) -> bool,
{
    Guard {
        breaker,
        attempt,
        is_failure: Some(is_failure),
        stage: Stage::Unpolled,
        admission: Admission::Closed,
        started: None,
        trial: None,
    }
}

/// The slot of a HALF_OPEN trial in flight: dropped unfinished (the call was cancelled, or
/// its attempt panicked), it gives the slot back.
struct TrialSlot<'b> {
    breaker: &'b CircuitBreaker,
    generation: u64,
}

impl TrialSlot<'_> {
    /// The trial finished: its outcome, recorded by the caller, settles the slot.
    fn finish(self) {
        std::mem::forget(self);
    }
}

impl Drop for TrialSlot<'_> {
    fn drop(&mut self) {
        self.breaker.trial_abandoned(self.generation);
    }
}

/// Where a [`Guard`] is.
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
    pub struct Guard<'b, F, P> {
        breaker: &'b CircuitBreaker,
        #[pin]
        attempt: F,
        is_failure: Option<P>,
        stage: Stage,
        admission: Admission,
        started: Option<u64>,
        // After `attempt`, so dropped after it: a cancelled trial's call is gone before its
        // slot is given back, and never more than `half_open` trials run at once.
        trial: Option<TrialSlot<'b>>,
    }
}

impl<T, E, R, F, P> Future for Guard<'_, F, P>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    P: FnOnce(&E) -> bool,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let breaker: &CircuitBreaker = this.breaker;
        if *this.stage == Stage::Unpolled {
            if breaker.load().is_closed_untimed() {
                *this.stage = Stage::Closed;
            } else if let Err(retry_in_nanos) =
                breaker.admit_guarded(this.stage, this.admission, this.started, this.trial)
            {
                return Poll::Ready(Err(Failure::Rejected(breaker.rejection(retry_in_nanos))));
            }
        }
        let result = match this.attempt.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let stage = std::mem::replace(this.stage, Stage::Finished);
        let result = match result {
            Ok(value) if stage == Stage::Closed => {
                // No trial slot is held in CLOSED.
                breaker.record(Admission::Closed, Outcome::Success, false);
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
        breaker.settle(
            stage,
            *this.admission,
            *this.started,
            this.trial.take(),
            outcome,
        );
        Poll::Ready(result)
    }
}

/// The guard's steps off the hot path: not generic, so compiled once for every guarded
/// function, and out of line, so the hot path stays small enough to inline.
impl<'b> CircuitBreaker {
    /// Admits a call that is not on the hot path, or says in how many nanoseconds to retry.
    #[inline(never)]
    fn admit_guarded(
        &'b self,
        stage: &mut Stage,
        admission: &mut Admission,
        started: &mut Option<u64>,
        trial: &mut Option<TrialSlot<'b>>,
    ) -> Result<(), u64> {
        match self.admit_not_closed() {
            Ok(admitted) => {
                if let Admission::Trial(generation) = admitted {
                    *trial = Some(TrialSlot {
                        breaker: self,
                        generation,
                    });
                }
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
    fn settle(
        &self,
        stage: Stage,
        admission: Admission,
        started: Option<u64>,
        trial: Option<TrialSlot<'_>>,
        outcome: Outcome,
    ) {
        if let Some(trial) = trial {
            trial.finish();
        }
        let (admission, started) = match stage {
            Stage::Closed => (Admission::Closed, None),
            Stage::Admitted => (admission, started),
            Stage::Unpolled | Stage::Finished => {
                panic!("`circuit_breaker` polled after completion")
            }
        };
        // Strictly longer: a call of exactly `slow_call` is not slow.
        let slow = started
            .is_some_and(|started| self.settings.is_slow(clock::now().saturating_sub(started)));
        self.record(admission, outcome, slow);
    }
}
