//! The rate limiter on paused time: its burst, its refill, waiting up to `max_wait` in the
//! order callers came, a cancelled wait giving its turn back, and its 429 problem.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use staunch::{Classify, Problem, RateLimiter, Rejected};

mod support;
use support::{ms, poll_once, secs};

fn ok() -> Result<(), Rejected> {
    Ok(())
}

/// The time a refusal says to wait, or `None` for a call let through.
fn refused_for(result: Result<(), Rejected>) -> Option<Duration> {
    match result {
        Ok(()) => None,
        Err(Rejected::RateLimited { retry_in, .. }) => Some(retry_in),
        Err(other) => panic!("not a rate limit: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_passes_at_once_and_the_next_call_is_told_when_its_turn_comes() {
    let limiter = RateLimiter::builder(10, secs(1))
        .name("rl-burst")
        .burst(3)
        .build()
        .unwrap();
    for n in 0..3 {
        assert_eq!(
            refused_for(limiter.try_acquire()),
            None,
            "call {n} of the burst"
        );
    }
    assert_eq!(limiter.metrics().available, 0);
    // One call each 100 ms; the fourth is one interval early.
    assert_eq!(refused_for(limiter.try_acquire()), Some(ms(100)));
    tokio::time::advance(ms(40)).await;
    assert_eq!(
        refused_for(limiter.try_acquire()),
        Some(ms(60)),
        "closer now"
    );
    assert_eq!(limiter.metrics().rejected, 2);
}

#[tokio::test(start_paused = true)]
async fn it_refills_at_the_rate_and_a_quiet_period_banks_no_more_than_the_burst() {
    let limiter = RateLimiter::builder(10, secs(1)).burst(2).build().unwrap();
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_err());
    tokio::time::advance(ms(100)).await;
    assert!(limiter.try_acquire().is_ok(), "one interval: one call");
    assert!(limiter.try_acquire().is_err());
    tokio::time::advance(secs(60)).await;
    assert_eq!(
        limiter.metrics().available,
        2,
        "a minute banks the burst, no more"
    );
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn the_default_burst_is_one_periods_worth() {
    let limiter = RateLimiter::builder(5, secs(1)).build().unwrap();
    assert_eq!(limiter.config().burst(), 5);
    for _ in 0..5 {
        limiter.call(|| async { ok() }).await.unwrap();
    }
    let refused = limiter.call(|| async { ok() }).await;
    assert_eq!(refused_for(refused), Some(ms(200)));
}

#[tokio::test(start_paused = true)]
async fn over_a_long_run_it_admits_the_rate() {
    let limiter = RateLimiter::builder(600, secs(60))
        .burst(1)
        .build()
        .unwrap();
    let mut admitted = 0;
    // A call each 10 ms for ten seconds, at ten times the rate.
    for _ in 0..1000 {
        if limiter.try_acquire().is_ok() {
            admitted += 1;
        }
        tokio::time::advance(ms(10)).await;
    }
    assert_eq!(admitted, 100, "10 calls a second for 10 seconds");
}

#[tokio::test(start_paused = true)]
async fn callers_wait_up_to_max_wait_in_the_order_they_came() {
    let limiter = Arc::new(
        RateLimiter::builder(1, ms(100))
            .name("rl-queue")
            .burst(1)
            .max_wait(ms(250))
            .build()
            .unwrap(),
    );
    let started = tokio::time::Instant::now();
    let order = Arc::new(Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..4)
        .map(|n| {
            let (limiter, order) = (Arc::clone(&limiter), Arc::clone(&order));
            tokio::spawn(async move {
                let result = limiter
                    .call(|| async {
                        order.lock().unwrap().push((n, started.elapsed()));
                        ok()
                    })
                    .await;
                refused_for(result)
            })
        })
        .collect();
    let mut refusals = Vec::new();
    for caller in callers {
        refusals.push(caller.await.unwrap());
    }
    assert_eq!(
        *order.lock().unwrap(),
        [(0, ms(0)), (1, ms(100)), (2, ms(200))],
        "first come, first served, each in its turn"
    );
    assert_eq!(
        refusals,
        [None, None, None, Some(ms(300))],
        "the fourth would wait 300 ms, over max_wait"
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_stops_waiting_gives_its_turn_back() {
    let limiter = RateLimiter::builder(1, secs(1))
        .burst(1)
        .max_wait(secs(5))
        .build()
        .unwrap();
    assert!(limiter.try_acquire().is_ok());
    {
        let mut waiting = std::pin::pin!(limiter.acquire());
        assert!(poll_once(&mut waiting).await.is_pending(), "waits a second");
    }
    // Dropped: the turn it reserved is free again, a second from the first call.
    assert_eq!(refused_for(limiter.try_acquire()), Some(secs(1)));
}

#[tokio::test(start_paused = true)]
async fn a_caller_whose_turn_is_exactly_max_wait_away_waits_for_it() {
    let limiter = RateLimiter::builder(1, ms(100))
        .burst(1)
        .max_wait(ms(100))
        .build()
        .unwrap();
    assert!(limiter.try_acquire().is_ok());
    let started = tokio::time::Instant::now();
    assert_eq!(refused_for(limiter.acquire().await), None);
    assert_eq!(started.elapsed(), ms(100));
    assert_eq!(refused_for(limiter.acquire().await), None, "and the next");
    assert_eq!(started.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_leaves_a_later_callers_turn_alone() {
    let limiter = RateLimiter::builder(1, secs(1))
        .burst(1)
        .max_wait(secs(5))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    assert!(limiter.try_acquire().is_ok());
    let mut first = Box::pin(limiter.acquire());
    assert!(poll_once(&mut first).await.is_pending(), "its turn at 1 s");
    let mut second = Box::pin(limiter.acquire());
    assert!(poll_once(&mut second).await.is_pending(), "its turn at 2 s");
    drop(first);
    assert_eq!(
        refused_for(limiter.try_acquire()),
        Some(secs(3)),
        "the later turn stays reserved: the cancelled one is lost, not given twice"
    );
    assert_eq!(refused_for(second.await), None);
    assert_eq!(started.elapsed(), secs(2), "the second keeps its turn");
}

#[test]
fn settings_that_would_overflow_or_wait_for_ever_are_refused() {
    let error = |builder: staunch::rate_limit::RateLimiterBuilder| {
        builder.config().unwrap_err().to_string()
    };
    assert_eq!(
        error(RateLimiter::builder(1, secs(5)).burst(u64::from(u32::MAX))),
        "`burst` must be no more calls than the rate allows in a year, got 4294967295"
    );
    assert_eq!(
        error(RateLimiter::builder(1, secs(1)).max_wait(secs(86_401))),
        "`max_wait` must be at most a day, got 86401s"
    );
    assert!(
        RateLimiter::builder(1, secs(3600))
            .burst(24 * 365)
            .build()
            .is_ok(),
        "a year of hourly calls at once"
    );
}

#[tokio::test(start_paused = true)]
async fn its_rejection_is_a_429_problem_with_retry_after_and_retried_after_it() {
    let limiter = RateLimiter::builder(1, secs(2))
        .name("rl-problem")
        .build()
        .unwrap();
    assert!(limiter.try_acquire().is_ok());
    let refused = limiter.try_acquire().unwrap_err();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.title(), "Too Many Requests");
    assert_eq!(refused.retry_after(), Some(secs(2)));
    assert!(refused.is_transient() && !refused.is_failure());
    let details = refused.to_details(None);
    assert!(
        !serde_json::to_string(&details)
            .unwrap()
            .contains("rl-problem"),
        "the limiter's name is internal"
    );

    let response = axum::response::IntoResponse::into_response(refused);
    assert_eq!(response.status(), 429);
    assert_eq!(
        response
            .headers()
            .get(axum::http::header::RETRY_AFTER)
            .unwrap(),
        "2"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_around_it_waits_for_the_turn_it_was_told() {
    let limiter = RateLimiter::builder(1, secs(2)).build().unwrap();
    assert!(limiter.try_acquire().is_ok());
    let policy = staunch::Retry::exponential()
        .max_attempts(2)
        .base(ms(1))
        .jitter(staunch::retry::Jitter::None)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let result = policy
        .call_classified(|| limiter.call(|| async { ok() }))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(
        started.elapsed(),
        secs(2),
        "Retry-After, not the 1 ms backoff"
    );
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_hears_each_refusal() {
    let limiter = RateLimiter::builder(1, secs(1))
        .name("rl-events")
        .build()
        .unwrap();
    let mut events = limiter.subscribe();
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_err());
    match events.try_recv().unwrap() {
        staunch::Event::Rejected { name, rejected } => {
            assert_eq!(name, "rl-events");
            assert!(matches!(rejected, Rejected::RateLimited { .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_settings_are_refused_with_the_words_of_the_attribute() {
    let error = |builder: staunch::rate_limit::RateLimiterBuilder| {
        builder.config().unwrap_err().to_string()
    };
    assert_eq!(
        error(RateLimiter::builder(10, secs(1)).burst(0)),
        "`burst` must be at least 1, got 0"
    );
    assert_eq!(
        error(RateLimiter::builder(0, secs(1))),
        "`rate` must be at least 1 call per period, got \"0/s\""
    );
    assert_eq!(
        error(RateLimiter::builder(3, Duration::ZERO)),
        "`rate` must be per a period above zero, got \"3/0s\""
    );
    assert_eq!(
        error(RateLimiter::builder(10, secs(1)).name(" ")),
        "`name` must be a non-empty string, got \" \""
    );
}
