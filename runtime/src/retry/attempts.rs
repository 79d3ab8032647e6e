//! One retried call: the attempts made, the deadline, the jitter, and what to do after each.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::policy::UNBOUNDED;
use super::{Jitter, RetryConfig, RetryPolicy};
use crate::observe;
use crate::outcome::{AsRejected, Failure};
use crate::{Classify, Rejected, RetryBudget, clock};

/// What retry should make of one failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// The error is worth another attempt.
    pub retry: bool,
    /// The dependency asked for at least this long a wait.
    pub after: Option<Duration>,
}

/// What to do after an attempt.
#[derive(Debug)]
pub enum Next<R> {
    /// Return this result.
    Done(R),
    /// Sleep this long, then attempt again.
    Wait(Duration),
}

/// The state of one retried call: how many attempts were made, the deadline, the jitter state.
///
/// Generated code drives it in a loop; all decisions live here so the expansion stays small.
/// `P` and `B` are handles of the policy and the budget: references for the attributes (and
/// `call`), handles that own them for a tower service's `'static` future.
#[derive(Debug)]
pub struct Attempts<P = &'static RetryPolicy, B = &'static RetryBudget> {
    policy: P,
    /// The policy's settings, copied at the first failure: a call keeps them to its end.
    settings: Option<RetryConfig>,
    made: u32,
    deadline: Option<u64>,
    /// The previous sleep (decorrelated jitter); `None` before the first, which grows from `base`.
    previous: Option<Duration>,
    rng: Option<SmallRng>,
    /// Called at the call's first failure, before it copies the policy's settings.
    on_first_failure: Option<fn(&P)>,
    budget: Option<B>,
}

thread_local! {
    static THREAD_RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

/// Seeds the jitter of every unseeded retry on this thread, for deterministic tests.
///
/// On a current-thread runtime (`#[tokio::test]`) that is every retry of the test.
pub fn seed_thread_jitter(seed: u64) {
    THREAD_RNG.with(|rng| *rng.borrow_mut() = Some(SmallRng::seed_from_u64(seed)));
}

impl<P: Deref<Target = RetryPolicy>> Attempts<P> {
    /// The state of a call that has made no attempt yet.
    #[inline]
    #[must_use]
    pub fn new(policy: P) -> Self {
        Self {
            deadline: deadline(&policy),
            policy,
            settings: None,
            made: 0,
            previous: None,
            rng: None,
            on_first_failure: None,
            budget: None,
        }
    }
}

/// The instant (in clock nanoseconds) before which the last attempt of a call starting now
/// must start: `max_elapsed` from now, if the policy has one.
#[inline]
pub(crate) fn deadline(policy: &RetryPolicy) -> Option<u64> {
    let max_elapsed = policy.max_elapsed.load(Ordering::Relaxed);
    (max_elapsed != UNBOUNDED).then(|| clock::now().saturating_add(max_elapsed))
}

impl<P: Deref<Target = RetryPolicy>, B: Deref<Target = RetryBudget>> Attempts<P, B> {
    /// Calls `hook` with the policy at the call's first failure, before its settings are
    /// copied: a hook that changes them reaches this call.
    pub(crate) fn on_first_failure(mut self, hook: fn(&P)) -> Self {
        self.on_first_failure = Some(hook);
        self
    }

    /// Spends retries from `budget`, crediting it with this call's first attempt.
    #[must_use]
    pub fn with_budget<B2: Deref<Target = RetryBudget>>(self, budget: B2) -> Attempts<P, B2> {
        budget.deposit();
        self.rebudget(Some(budget))
    }

    #[cfg(feature = "tower")]
    /// The state of a call that started earlier, with its `deadline` then and `budget` credited
    /// then, and has made one attempt: a caller that keeps its success path small builds it at
    /// the first failure.
    pub(crate) fn started(policy: P, deadline: Option<u64>, budget: Option<B>) -> Self {
        Self {
            policy,
            settings: None,
            made: 0,
            deadline,
            previous: None,
            rng: None,
            on_first_failure: None,
            budget,
        }
    }

    /// The policy.
    #[cfg(feature = "tower")]
    pub(crate) fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn rebudget<B2>(self, budget: Option<B2>) -> Attempts<P, B2> {
        Attempts {
            policy: self.policy,
            settings: self.settings,
            made: self.made,
            deadline: self.deadline,
            previous: self.previous,
            rng: self.rng,
            on_first_failure: self.on_first_failure,
            budget,
        }
    }

    /// Takes in the outcome of an attempt and says whether to return it or to wait and retry.
    ///
    /// `verdict` judges the function's own errors; `describe` writes one for the log. A
    /// success is returned here, inlined into the caller; a failure is judged out of line.
    #[inline]
    pub fn next<T, E, R: AsRejected>(
        &mut self,
        outcome: Result<T, Failure<E, R>>,
        verdict: impl FnOnce(&E) -> Verdict,
        describe: impl Fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> Next<Result<T, Failure<E, R>>> {
        if outcome.is_ok() {
            self.policy.succeeded(self.made > 0);
            return Next::Done(outcome);
        }
        self.judge(outcome, verdict, describe)
    }

    #[inline(never)]
    fn judge<T, E, R: AsRejected>(
        &mut self,
        outcome: Result<T, Failure<E, R>>,
        verdict: impl FnOnce(&E) -> Verdict,
        describe: impl Fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> Next<Result<T, Failure<E, R>>> {
        self.made += 1;
        let Err(failure) = &outcome else {
            return Next::Done(outcome);
        };
        let verdict = match failure {
            Failure::Error(e) => verdict(e),
            // A layer inside that says when to come back (a rate limiter's turn) is waited
            // for, as a dependency's Retry-After is.
            Failure::Rejected(r) => Verdict {
                retry: r.as_rejected().is_transient(),
                after: r.as_rejected().retry_after(),
            },
        };
        let decision = self.decide(verdict, &Shown(failure, &describe));
        if !matches!(decision, Decision::Wait(_)) {
            self.policy.failed(self.made > 1);
        }
        match decision {
            Decision::Wait(delay) => Next::Wait(delay),
            Decision::Return => Next::Done(outcome),
            // A stack whose rejections cannot be carried has no budget (the expansion widens
            // them where there is one), so the fallback to the last error is never taken.
            Decision::Reject(rejected) => match R::from_rejected(rejected) {
                Some(rejected) => Next::Done(Err(Failure::Rejected(rejected))),
                None => Next::Done(outcome),
            },
        }
    }

    #[cfg(feature = "tower")]
    /// Takes in a failed attempt judged by `verdict` (a caller that judges outcomes itself,
    /// as a tower service judges responses), and says what to do.
    pub(crate) fn failed(&mut self, verdict: Verdict, error: &dyn fmt::Display) -> Decision {
        self.made += 1;
        self.decide(verdict, error)
    }

    /// What to do after a failed attempt judged by `verdict`. Not generic, so compiled once
    /// rather than for every retried function.
    fn decide(&mut self, verdict: Verdict, error: &dyn fmt::Display) -> Decision {
        if !verdict.retry {
            return Decision::Return;
        }
        let Some(delay) = self.delay(verdict.after) else {
            self.policy.stats.exhausted.fetch_add(1, Ordering::Relaxed);
            return Decision::Return;
        };
        if let Some(budget) = &self.budget
            && !budget.try_withdraw()
        {
            let rejects = budget.rejects_when_exhausted();
            observe::budget_spent(
                budget.hub(),
                self.policy.name,
                budget.name(),
                self.made,
                rejects,
            );
            return if rejects {
                Decision::Reject(Rejected::BudgetExhausted {
                    name: budget.name(),
                })
            } else {
                Decision::Return
            };
        }
        self.policy.stats.retries.fetch_add(1, Ordering::Relaxed);
        observe::retry_scheduled(&self.policy.hub, self.policy.name, self.made, delay, error);
        Decision::Wait(delay)
    }

    /// The sleep before the next attempt, or `None` when no attempt may start.
    fn delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.settings.is_none()
            && let Some(hook) = self.on_first_failure
        {
            hook(&self.policy);
        }
        let policy = *self.settings.get_or_insert_with(|| self.policy.config());
        if self.made >= policy.max_attempts {
            return None;
        }
        let mut delay = match policy.jitter {
            Jitter::None => policy.delay_before(self.made),
            Jitter::Full => self.uniform(Duration::ZERO, policy.delay_before(self.made)),
            Jitter::Equal => {
                let half = policy.delay_before(self.made) / 2;
                half + self.uniform(Duration::ZERO, half)
            }
            Jitter::Decorrelated => {
                let previous = self.previous.unwrap_or(policy.base);
                let high = previous.saturating_mul(3).min(policy.max_delay);
                let next = self.uniform(policy.base, high.max(policy.base));
                self.previous = Some(next);
                next
            }
        };
        // No sleep exceeds `max_delay`, whatever the jitter.
        delay = delay.min(policy.max_delay);
        if let Some(after) = retry_after {
            delay = delay.max(after.min(policy.max_delay));
        }
        // An attempt must start strictly before the deadline.
        if let Some(deadline) = self.deadline
            && clock::now().saturating_add(clock::nanos(delay)) >= deadline
        {
            return None;
        }
        Some(delay)
    }

    /// A uniform draw from `low..=high`.
    fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        let (low, high) = (clock::nanos(low), clock::nanos(high));
        if high <= low {
            return Duration::from_nanos(low);
        }
        let seed = self.settings.and_then(|settings| settings.seed);
        let draw = match (&mut self.rng, seed) {
            (Some(rng), _) => rng.random_range(low..=high),
            (rng @ None, Some(seed)) => rng
                .insert(SmallRng::seed_from_u64(seed))
                .random_range(low..=high),
            (None, None) => THREAD_RNG.with(|rng| {
                rng.borrow_mut()
                    .get_or_insert_with(|| SmallRng::from_rng(&mut rand::rng()))
                    .random_range(low..=high)
            }),
        };
        Duration::from_nanos(draw)
    }
}

/// What [`Attempts::decide`] concluded.
pub(crate) enum Decision {
    Wait(Duration),
    /// Return the attempt's outcome.
    Return,
    /// End the call with this rejection.
    Reject(Rejected),
}

/// Displays a failure for the retry log line.
struct Shown<'a, E, R, D>(&'a Failure<E, R>, &'a D);

impl<E, R: AsRejected, D: Fn(&E, &mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display
    for Shown<'_, E, R, D>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Failure::Error(e) => (self.1)(e, f),
            Failure::Rejected(r) => fmt::Display::fmt(r.as_rejected(), f),
        }
    }
}
