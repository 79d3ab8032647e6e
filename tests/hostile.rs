//! Hostile and extreme inputs: a `Retry-After: 999999999`, durations at `Duration::MAX`,
//! `u32::MAX` attempts, zero and oversized windows. Each is bounded or refused with a `Result`;
//! none panics or overflows (tests build with overflow checks, so an overflow would panic here).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::{Duration, SystemTime};

use axum::response::IntoResponse;
use staunch::reqwest::{HttpStatusError, MAX_RETRY_AFTER, parse_retry_after};
use staunch::{
    Bulkhead, CircuitBreaker, CircuitState, ConfigError, Jitter, Rejected, Retry, RetryBudget,
};
use tokio::time::{Instant, advance};

mod support;
use support::Error;

fn out_of_range(result: Result<impl std::fmt::Debug, ConfigError>, option: &str) {
    match result {
        Err(ConfigError::OutOfRange { option: o, .. }) if o == option => {}
        other => panic!("expected `{option}` out of range, got {other:?}"),
    }
}

fn unavailable(retry_after: Option<Duration>) -> HttpStatusError {
    HttpStatusError {
        status: 503,
        retry_after,
        url: "http://127.0.0.1/".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Retry-After.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_retry_after_of_999999999_seconds_is_cut_to_a_day() {
    let now = SystemTime::now();
    assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER));
    assert_eq!(
        parse_retry_after(&u64::MAX.to_string(), now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(
        parse_retry_after(&"9".repeat(10_000), now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(parse_retry_after("-1", now), None);
    assert_eq!(parse_retry_after("+5", now), None);
    assert_eq!(parse_retry_after("5 s", now), None);
    assert_eq!(
        parse_retry_after("\u{0660}", now),
        None,
        "Arabic-Indic digits are not digits"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hostile_retry_after_never_stalls_a_caller_past_max_delay_or_max_elapsed() {
    let hostile = parse_retry_after("999999999", SystemTime::now());
    let policy = Retry::constant()
        .max_attempts(3)
        .base(Duration::from_millis(10))
        .max_delay(Duration::from_secs(5))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let start = Instant::now();
    let result: Result<(), _> = policy
        .call_classified(|| async { Err(unavailable(hostile)) })
        .await;
    assert_eq!(result.unwrap_err().status, 503);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(10),
        "two sleeps of max_delay"
    );

    let deadline = Retry::constant()
        .max_attempts(3)
        .max_delay(Duration::from_secs(60))
        .max_elapsed(Duration::from_secs(3))
        .build()
        .unwrap();
    let start = Instant::now();
    let _ = deadline
        .call_classified(|| async { Err::<(), _>(unavailable(hostile)) })
        .await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no attempt could start before the deadline"
    );
}

// A Retry-After header rounds the wait up to whole seconds: `Duration::MAX` has a fraction, so
// the rounding added one to `u64::MAX` seconds.
#[derive(Debug, thiserror::Error, staunch::Problem)]
#[error("come back much later")]
#[problem(status = 503)]
struct ComeBackLater {
    #[problem(retry_after)]
    wait: Duration,
}

#[test]
fn retry_after_of_duration_max_is_a_header_not_an_overflow() {
    let problem = ComeBackLater {
        wait: Duration::MAX,
    };
    let axum = problem.into_response();
    assert_eq!(axum.headers()["retry-after"], u64::MAX.to_string().as_str());
    let actix = actix_web::ResponseError::error_response(&ComeBackLater {
        wait: Duration::MAX,
    });
    assert_eq!(
        actix.headers().get("retry-after").unwrap(),
        u64::MAX.to_string().as_str()
    );
}

// ---------------------------------------------------------------------------------------------
// Retry: extreme durations and attempts.
// ---------------------------------------------------------------------------------------------

#[test]
fn retry_builders_refuse_zero_and_non_finite_values() {
    out_of_range(Retry::exponential().max_attempts(0).build(), "max");
    out_of_range(
        Retry::exponential().max_delay(Duration::ZERO).build(),
        "max_delay",
    );
    out_of_range(
        Retry::exponential().max_elapsed(Duration::ZERO).build(),
        "max_elapsed",
    );
    out_of_range(Retry::exponential().factor(f64::INFINITY).build(), "factor");
    out_of_range(Retry::exponential().factor(-2.0).build(), "factor");
    out_of_range(Retry::exponential().factor(0.999).build(), "factor");
    assert_eq!(
        Retry::exponential()
            .base(Duration::MAX)
            .max_delay(Duration::from_secs(1))
            .build()
            .unwrap_err(),
        ConfigError::Exceeds {
            option: "base",
            limit: "max_delay"
        }
    );
    // A `base` of `Duration::MAX` alone raises the default cap with it; nothing overflows.
    assert!(Retry::exponential().base(Duration::MAX).build().is_ok());
    // A factor with a backoff that has none is refused too, not ignored.
    assert!(Retry::constant().factor(2.0).build().is_err());
    out_of_range(Retry::exponential().factor(f64::NAN).build(), "factor");
}

/// Every delay at `Duration::MAX`, an exponent that overflows `f64`, each jitter: the delays
/// are capped, the deadline saturates, and the call ends after its attempts.
#[tokio::test(start_paused = true)]
async fn durations_at_their_maximum_and_u32_max_attempts_neither_panic_nor_overflow() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let policy = Retry::exponential()
            .factor(1e300)
            .max_attempts(u32::MAX)
            .base(Duration::from_millis(1))
            .max_delay(Duration::from_secs(1))
            .max_elapsed(Duration::MAX)
            .jitter(jitter)
            .seed(1)
            .build()
            .unwrap();
        let mut attempts = 0;
        let start = Instant::now();
        let result = policy
            .call(|| {
                attempts += 1;
                let n = attempts;
                async move { if n < 40 { Err(n) } else { Ok(n) } }
            })
            .await;
        assert_eq!(result, Ok(40), "{jitter:?}");
        assert!(
            start.elapsed() <= Duration::from_secs(39),
            "{jitter:?}: each sleep capped"
        );
    }

    // `max_delay` and `base` at `Duration::MAX`: the sleeps are as long as tokio allows, and
    // nothing overflows computing them.
    let policy = Retry::linear()
        .max_attempts(3)
        .base(Duration::MAX)
        .max_delay(Duration::MAX)
        .jitter(Jitter::Equal)
        .build()
        .unwrap();
    let mut attempts = 0;
    let result: Result<(), u32> = policy
        .call(|| {
            attempts += 1;
            async { Err(1) }
        })
        .await;
    assert_eq!((result, attempts), (Err(1), 3));
}

#[tokio::test(start_paused = true)]
async fn u32_max_attempts_are_still_bounded_by_max_elapsed() {
    let policy = Retry::constant()
        .max_attempts(u32::MAX)
        .base(Duration::from_millis(100))
        .max_delay(Duration::from_millis(100))
        .max_elapsed(Duration::from_secs(1))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let mut attempts = 0;
    let start = Instant::now();
    let _: Result<(), Error> = policy
        .call(|| {
            attempts += 1;
            async { Err(Error::Down) }
        })
        .await;
    assert_eq!(attempts, 10, "at 0, 100, …, 900 ms");
    assert!(start.elapsed() < Duration::from_secs(1));
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker.
// ---------------------------------------------------------------------------------------------

#[test]
fn breaker_builders_refuse_zero_and_oversized_windows() {
    let b = || CircuitBreaker::builder("hostile");
    out_of_range(b().window(0).build(), "window");
    out_of_range(b().window(u32::MAX).build(), "window");
    out_of_range(b().window((1 << 20) + 1).build(), "window");
    out_of_range(b().window(10).min_calls(0).build(), "min_calls");
    out_of_range(b().window(10).min_calls(11).build(), "min_calls");
    out_of_range(b().window(10).failure_rate(0).build(), "failure_rate");
    out_of_range(b().window(10).failure_rate(u8::MAX).build(), "failure_rate");
    out_of_range(
        b().window(10).slow_call(Duration::ZERO).build(),
        "slow_call",
    );
    out_of_range(
        b().window(10)
            .slow_call(Duration::from_secs(1))
            .slow_rate(101)
            .build(),
        "slow_rate",
    );
    out_of_range(b().fail_max(0).build(), "fail_max");
    out_of_range(b().reset(Duration::ZERO).build(), "reset");
    out_of_range(b().half_open(0).build(), "half_open");
    // The largest window is accepted and works.
    let big = b().window(1 << 20).min_calls(1).build().unwrap();
    assert_eq!(big.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_reset_of_duration_max_keeps_the_breaker_open_without_overflow() {
    let breaker = CircuitBreaker::builder("hostile-reset")
        .fail_max(u32::MAX)
        .window(1 << 20)
        .min_calls(1)
        .failure_rate(1)
        .reset(Duration::MAX)
        .slow_call(Duration::MAX)
        .build();
    assert!(breaker.is_err(), "fail_max with window is a conflict");
    let breaker = CircuitBreaker::builder("hostile-reset")
        .fail_max(1)
        .reset(Duration::MAX)
        .build()
        .unwrap();
    let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
    advance(Duration::from_secs(100 * 365 * 24 * 3600)).await;
    match breaker.call(|| async { Ok::<_, Error>(()) }).await {
        Err(Error::Rejected(Rejected::CircuitOpen { retry_in, .. })) => {
            assert!(
                retry_in > Duration::from_secs(400 * 365 * 24 * 3600),
                "{retry_in:?}"
            );
        }
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
}

type Trial<'b> = Pin<Box<dyn Future<Output = Result<(), Error>> + 'b>>;

/// `half_open = u16::MAX`: every trial count the breaker packs fits, even all of them at once.
#[tokio::test(start_paused = true)]
async fn u16_max_concurrent_trials_fit_the_breaker_word() {
    let breaker = CircuitBreaker::builder("hostile-half-open")
        .fail_max(1)
        .reset(Duration::from_secs(1))
        .half_open(u16::MAX)
        .build()
        .unwrap();
    let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
    advance(Duration::from_secs(1)).await;
    let mut context = Context::from_waker(Waker::noop());
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut trials: Vec<Trial<'_>> = (0..u16::MAX)
        .map(|_| {
            let mut gate = gate.clone();
            Box::pin(breaker.call(move || async move {
                gate.wait_for(|open| *open).await.unwrap();
                Ok(())
            })) as Trial<'_>
        })
        .collect();
    for trial in &mut trials {
        assert!(trial.as_mut().poll(&mut context).is_pending(), "admitted");
    }
    assert!(matches!(
        breaker.call(|| async { Ok::<_, Error>(()) }).await,
        Err(Error::Rejected(Rejected::CircuitOpen { .. }))
    ));
    release.send(true).unwrap();
    for (i, trial) in trials.iter_mut().enumerate() {
        assert!(trial.as_mut().await.is_ok(), "trial {i}");
        let expected = if i + 1 == usize::from(u16::MAX) {
            CircuitState::Closed
        } else {
            CircuitState::HalfOpen
        };
        assert_eq!(breaker.state(), expected, "after trial {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bulkhead, timeout, budget.
// ---------------------------------------------------------------------------------------------

#[test]
fn bulkhead_limits_outside_the_semaphore_range_are_refused() {
    out_of_range(Bulkhead::builder(0).name("hostile").build(), "limit");
    out_of_range(
        Bulkhead::builder(usize::MAX).name("hostile").build(),
        "limit",
    );
    out_of_range(
        Bulkhead::builder(usize::MAX)
            .name("hostile")
            .max_wait(Duration::from_secs(1))
            .build(),
        "limit",
    );
    let largest = Bulkhead::MAX_LIMIT;
    out_of_range(
        Bulkhead::builder(largest + 1)
            .name("hostile")
            .max_wait(Duration::from_secs(1))
            .build(),
        "limit",
    );
    for max_wait in [Duration::ZERO, Duration::MAX] {
        let bulkhead = Bulkhead::builder(largest)
            .name("hostile")
            .max_wait(max_wait)
            .build()
            .unwrap();
        assert_eq!(bulkhead.metrics().limit, largest);
        assert_eq!(bulkhead.metrics().in_flight, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_max_wait_of_duration_max_waits_for_the_slot() {
    let bulkhead = Bulkhead::builder(1)
        .name("hostile-wait")
        .max_wait(Duration::MAX)
        .build()
        .unwrap();
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let holder = bulkhead.call(|| async {
        gate.await.unwrap();
        Ok::<_, Error>(1)
    });
    let waiter = bulkhead.call(|| async { Ok::<_, Error>(2) });
    let (mut holder, mut waiter) = (Box::pin(holder), Box::pin(waiter));
    let mut context = Context::from_waker(Waker::noop());
    assert!(holder.as_mut().poll(&mut context).is_pending());
    assert!(waiter.as_mut().poll(&mut context).is_pending());
    advance(Duration::from_secs(10 * 365 * 24 * 3600)).await;
    assert!(
        waiter.as_mut().poll(&mut context).is_pending(),
        "still waiting"
    );
    release.send(()).unwrap();
    assert_eq!(holder.await.unwrap(), 1);
    assert_eq!(waiter.await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn timeouts_of_zero_and_duration_max_are_well_defined() {
    // A call ready at once beats even a zero timeout; one that is not is cut at once.
    assert_eq!(
        staunch::timeout(Duration::ZERO, || async { Ok::<_, Rejected>(1) }).await,
        Ok(1)
    );
    assert_eq!(
        staunch::timeout(Duration::ZERO, || async {
            tokio::task::yield_now().await;
            Ok::<_, Rejected>(1)
        })
        .await,
        Err(Rejected::Timeout {
            after: Duration::ZERO
        })
    );
    // Beyond the clock's range: never times out.
    let decade = Duration::from_secs(10 * 365 * 24 * 3600);
    let start = Instant::now();
    assert_eq!(
        staunch::timeout(Duration::MAX, || async {
            tokio::time::sleep(decade).await;
            Ok::<_, Rejected>(2)
        })
        .await,
        Ok(2)
    );
    assert_eq!(start.elapsed(), decade);
}

#[test]
fn budget_builders_refuse_ratios_outside_zero_to_one() {
    for ratio in [f64::NAN, -0.1, 1.1, f64::INFINITY, f64::NEG_INFINITY] {
        out_of_range(
            RetryBudget::builder("hostile").ratio(ratio).config(),
            "ratio",
        );
    }
    out_of_range(
        RetryBudget::builder("hostile").max_balance(0).config(),
        "max_balance",
    );
}

#[tokio::test(start_paused = true)]
async fn a_budget_at_its_maximums_refills_without_overflow() {
    let budget = RetryBudget::new(
        RetryBudget::builder("hostile-budget")
            .ratio(1.0)
            .min_per_sec(u32::MAX)
            .max_balance(u32::MAX)
            .config()
            .unwrap(),
    );
    for _ in 0..1000 {
        assert!(budget.try_withdraw());
        budget.deposit();
    }
    advance(Duration::from_secs(100 * 365 * 24 * 3600)).await;
    assert!(budget.try_withdraw());
    assert!(budget.metrics().balance <= f64::from(u32::MAX));
}
