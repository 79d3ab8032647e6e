//! Retry against a reference model: for random policies (every backoff and jitter, with and
//! without `max_elapsed`) and random failure patterns (successes, transient errors with or
//! without Retry-After, permanent errors, attempts that take time), the number of attempts,
//! each wait, the result, the reason retrying stopped and the counters agree with a plain
//! model written from the spec (§2.3). Jitter is random, so the model gives each wait its AWS
//! bounds and, where a deadline falls inside them, accepts either outcome.
//!
//! `PROPTEST_CASES=5000 cargo test --test model_retry` searches harder than the default run.

use std::sync::Mutex;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use staunch::{Classify, Jitter, Retry, RetryPolicy};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Error {
    #[error("busy")]
    Busy { retry_after_ms: Option<u64> },
    #[error("refused for good")]
    Permanent,
}

impl Classify for Error {
    fn is_transient(&self) -> bool {
        matches!(self, Error::Busy { .. })
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Busy { retry_after_ms } => retry_after_ms.map(Duration::from_millis),
            Error::Permanent => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Backoff {
    Exponential(f64),
    Constant,
    Linear,
}

#[derive(Debug, Clone, Copy)]
struct Policy {
    max: u32,
    backoff: Backoff,
    base_ms: u64,
    max_delay_ms: u64,
    max_elapsed_ms: Option<u64>,
    jitter: Jitter,
    seed: u64,
}

/// One attempt: how long it takes, then what it returns.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    takes_ms: u64,
    result: Result<(), Error>,
}

fn policy() -> impl Strategy<Value = Policy> {
    let backoff = prop_oneof![
        prop::sample::select(vec![1.0, 1.5, 2.0, 3.0]).prop_map(Backoff::Exponential),
        Just(Backoff::Constant),
        Just(Backoff::Linear),
    ];
    let jitter = prop::sample::select(vec![
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ]);
    (
        1..=6u32,
        backoff,
        (1..=200u64).prop_flat_map(|base| (Just(base), base..=1500)),
        prop::option::of(1..=3000u64),
        jitter,
        any::<u64>(),
    )
        .prop_map(
            |(max, backoff, (base_ms, max_delay_ms), max_elapsed_ms, jitter, seed)| Policy {
                max,
                backoff,
                base_ms,
                max_delay_ms,
                max_elapsed_ms,
                jitter,
                seed,
            },
        )
}

fn attempt() -> impl Strategy<Value = Attempt> {
    let result = prop_oneof![
        2 => Just(Ok(())),
        5 => prop::option::of(0..=2500u64).prop_map(|retry_after_ms| Err(Error::Busy { retry_after_ms })),
        1 => Just(Err(Error::Permanent)),
    ];
    (prop_oneof![Just(0u64), 1..=300u64], result)
        .prop_map(|(takes_ms, result)| Attempt { takes_ms, result })
}

fn build(p: &Policy) -> RetryPolicy {
    let builder = match p.backoff {
        Backoff::Exponential(factor) => Retry::exponential().factor(factor),
        Backoff::Constant => Retry::constant(),
        Backoff::Linear => Retry::linear(),
    };
    let builder = builder
        .max_attempts(p.max)
        .base(Duration::from_millis(p.base_ms))
        .max_delay(Duration::from_millis(p.max_delay_ms))
        .jitter(p.jitter)
        .seed(p.seed);
    match p.max_elapsed_ms {
        Some(ms) => builder.max_elapsed(Duration::from_millis(ms)),
        None => builder,
    }
    .build()
    .expect("generated policies are valid")
}

// ---------------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Succeeded,
    Permanent,
    /// Every attempt used.
    Exhausted,
    /// The next attempt could not start before `max_elapsed`.
    Deadline,
}

/// Durations in ns.
const MS: u128 = 1_000_000;
/// Timers of tokio fire on whole milliseconds: a wait may end up to 1 ms after it was due.
const TICK: u128 = MS;

/// The delay before attempt `failures + 1`, before jitter: `base·factor^(n-1)`, `base`, or
/// `base·n`, capped at `max_delay`; in ns.
fn nominal(p: &Policy, failures: u32) -> u128 {
    let base = p.base_ms as f64 * 1e6;
    let raw = match p.backoff {
        Backoff::Exponential(factor) => base * factor.powi(failures as i32 - 1),
        Backoff::Constant => base,
        Backoff::Linear => base * f64::from(failures),
    };
    raw.min(p.max_delay_ms as f64 * 1e6) as u128
}

/// The bounds of the wait after `failures` failed attempts, given an upper bound of the
/// previous decorrelated draw.
fn bounds(p: &Policy, failures: u32, previous_high: u128) -> (u128, u128) {
    // Float rounding of the nominal delay: a microsecond either way.
    let slack = 1_000;
    let d = nominal(p, failures);
    let (base, cap) = (u128::from(p.base_ms) * MS, u128::from(p.max_delay_ms) * MS);
    match p.jitter {
        Jitter::None => (d.saturating_sub(slack), d + slack),
        Jitter::Full => (0, d + slack),
        Jitter::Equal => ((d / 2).saturating_sub(slack), d + slack),
        Jitter::Decorrelated => (base, (previous_high * 3).min(cap).max(base)),
    }
}

/// What the real call did.
#[derive(Debug)]
struct Observed {
    /// When each attempt started, in ns from the call's start.
    starts: Vec<u128>,
    result: Result<(), Error>,
    /// When the call returned, in ns from its start.
    returned: u128,
    retries: u64,
    exhausted: u64,
    max_attempts: u32,
}

/// Walks the observed attempts with the model; fails on the first disagreement.
fn check(p: &Policy, pattern: &[Attempt], seen: &Observed) -> Result<Stop, TestCaseError> {
    let deadline = p.max_elapsed_ms.map(|ms| u128::from(ms) * MS);
    let attempt_at = |k: usize| {
        pattern.get(k).copied().unwrap_or(Attempt {
            takes_ms: 0,
            result: Err(Error::Busy {
                retry_after_ms: None,
            }),
        })
    };
    prop_assert_eq!(seen.max_attempts, p.max);
    prop_assert!(!seen.starts.is_empty(), "no attempt was made");
    prop_assert_eq!(seen.starts[0], 0, "the first attempt starts at once");
    let mut previous_high = u128::from(p.base_ms) * MS;
    let mut waited = 0;
    for (k, &start) in seen.starts.iter().enumerate() {
        let last = k + 1 == seen.starts.len();
        let attempt = attempt_at(k);
        let end = start + u128::from(attempt.takes_ms) * MS;
        let stop = match attempt.result {
            Ok(()) => Some(Stop::Succeeded),
            Err(Error::Permanent) => Some(Stop::Permanent),
            Err(Error::Busy { .. }) if k + 1 >= p.max as usize => Some(Stop::Exhausted),
            Err(Error::Busy { retry_after_ms }) => {
                let failures = u32::try_from(k + 1).unwrap();
                let (mut low, mut high) = bounds(p, failures, previous_high);
                if let Some(after) = retry_after_ms {
                    // At least the Retry-After, capped by `max_delay`.
                    let after = u128::from(after.min(p.max_delay_ms)) * MS;
                    low = low.max(after);
                    high = high.max(after);
                }
                match deadline {
                    Some(deadline) if end + low >= deadline => Some(Stop::Deadline),
                    Some(deadline) if end + high >= deadline && last => Some(Stop::Deadline),
                    _ => {
                        prop_assert!(!last, "attempt {} was not retried", k + 1);
                        let gap = seen.starts[k + 1] - end;
                        prop_assert!(
                            gap >= low && gap <= high + TICK,
                            "wait {} is {:?}, outside {:?}..={:?}",
                            k + 1,
                            Duration::from_nanos(gap as u64),
                            Duration::from_nanos(low as u64),
                            Duration::from_nanos(high as u64)
                        );
                        if let Some(deadline) = deadline {
                            // Planned strictly before the deadline, started on the next tick.
                            prop_assert!(
                                seen.starts[k + 1] <= deadline,
                                "attempt {} started after max_elapsed",
                                k + 2
                            );
                        }
                        waited += gap;
                        if p.jitter == Jitter::Decorrelated {
                            // The draw is the wait unless a Retry-After lengthened it.
                            previous_high = gap.min(high);
                        }
                        None
                    }
                }
            }
        };
        if let Some(stop) = stop {
            prop_assert!(last, "attempt {} was retried after {:?}", k + 1, stop);
            prop_assert_eq!(seen.result, attempt.result, "the last attempt's result");
            prop_assert_eq!(
                seen.returned,
                end,
                "the call returns as its last attempt does"
            );
            prop_assert_eq!(
                seen.retries,
                seen.starts.len() as u64 - 1,
                "retries counted"
            );
            prop_assert_eq!(
                seen.exhausted,
                u64::from(matches!(stop, Stop::Exhausted | Stop::Deadline)),
                "exhausted counted"
            );
            prop_assert_eq!(
                seen.returned,
                waited
                    + seen
                        .starts
                        .iter()
                        .enumerate()
                        .map(|(i, _)| u128::from(attempt_at(i).takes_ms) * MS)
                        .sum::<u128>()
            );
            return Ok(stop);
        }
    }
    unreachable!("the last attempt always stops")
}

/// [`observe`] on a fresh current-thread runtime whose clock is paused.
fn observe_paused(p: &Policy, pattern: &[Attempt]) -> Observed {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(observe(p, pattern))
}

async fn observe(p: &Policy, pattern: &[Attempt]) -> Observed {
    let policy = build(p);
    let starts = Mutex::new(Vec::new());
    let origin = Instant::now();
    let since = |at: Instant| at.duration_since(origin).as_nanos();
    let result = policy
        .call_classified(|| {
            let mut starts = starts.lock().unwrap();
            // A runaway retry fails the case instead of hanging it.
            assert!(starts.len() < 64, "more attempts than any policy allows");
            let attempt = pattern.get(starts.len()).copied().unwrap_or(Attempt {
                takes_ms: 0,
                result: Err(Error::Busy {
                    retry_after_ms: None,
                }),
            });
            starts.push(since(Instant::now()));
            async move {
                tokio::time::sleep(Duration::from_millis(attempt.takes_ms)).await;
                attempt.result
            }
        })
        .await;
    let metrics = policy.metrics();
    Observed {
        starts: starts.into_inner().unwrap(),
        result,
        returned: since(Instant::now()),
        retries: metrics.retries,
        exhausted: metrics.exhausted,
        max_attempts: policy.max_attempts(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 600,
        ..ProptestConfig::default()
    })]

    #[test]
    fn retry_agrees_with_the_model(
        p in policy(),
        pattern in prop::collection::vec(attempt(), 0..8),
    ) {
        let seen = observe_paused(&p, &pattern);
        check(&p, &pattern, &seen)?;
    }
}

/// Each way of stopping is reached by the generated cases (the model is not vacuous).
#[test]
fn every_stop_reason_is_generated() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let p = policy().new_tree(&mut runner).unwrap().current();
        let pattern = prop::collection::vec(attempt(), 0..8)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let seen = observe_paused(&p, &pattern);
        reached.insert(format!("{:?}", check(&p, &pattern, &seen).unwrap()));
    }
    assert_eq!(reached.len(), 4, "{reached:?}");
}
