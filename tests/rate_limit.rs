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

// The attribute: the same limiter behind a function, shared by name, tuned at run time.

use staunch::settings::{InstanceSettings, RateLimitSettings, Settings};
use support::Error;

#[staunch::rate_limit(rate = "10/s", burst = 2, name = "rl-attr-search")]
async fn search(query: &str) -> Result<usize, Error> {
    Ok(query.len())
}

/// A second function naming the same limiter: the two share its turns.
#[staunch::rate_limit(rate = "10/s", burst = 2, name = "rl-attr-search")]
async fn suggest(prefix: String) -> Result<String, Error> {
    Ok(prefix)
}

#[staunch::rate_limit(rate = "1/s", max_wait = "2s")]
async fn paced(n: u32) -> Result<u32, Error> {
    Ok(n)
}

#[staunch::retry(max = 3, base = "1ms", max_delay = "1s", jitter = "none")]
#[staunch::rate_limit(rate = "1/500ms", burst = 1, name = "rl-attr-retried")]
async fn retried() -> Result<(), Rejected> {
    Ok(())
}

fn refusal(result: Result<impl std::fmt::Debug, Error>) -> Option<Duration> {
    match result {
        Ok(_) => None,
        Err(Error::Rejected(Rejected::RateLimited { retry_in, .. })) => Some(retry_in),
        Err(other) => panic!("not a rate limit: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_attribute_admits_its_burst_then_refuses_with_the_time_to_wait() {
    tokio::time::advance(secs(10)).await;
    assert_eq!(search("a").await.unwrap(), 1);
    assert_eq!(search("ab").await.unwrap(), 2);
    assert_eq!(refusal(search("abc").await), Some(ms(100)));
    // The other function spends the same turns.
    assert_eq!(refusal(suggest("x".into()).await), Some(ms(100)));
    tokio::time::advance(ms(100)).await;
    assert_eq!(suggest("x".into()).await.unwrap(), "x");
    assert_eq!(refusal(search("a").await), Some(ms(100)));
    let limiter = staunch::rate_limiter("rl-attr-search").expect("registered by name");
    assert_eq!(limiter.metrics().rejected, 3);
    assert_eq!(limiter.config().burst(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_attribute_waits_up_to_max_wait_for_a_turn() {
    let started = tokio::time::Instant::now();
    assert_eq!(paced(1).await.unwrap(), 1);
    assert_eq!(paced(2).await.unwrap(), 2);
    assert_eq!(paced(3).await.unwrap(), 3);
    assert_eq!(started.elapsed(), secs(2), "one turn a second, waited for");
    // Two callers at once: the first waits a second, the second's turn is 2 s away, the
    // third's 3 s: refused.
    let (a, b, c) = tokio::join!(paced(4), paced(5), paced(6));
    assert_eq!((a.unwrap(), b.unwrap()), (4, 5));
    assert_eq!(refusal(c), Some(secs(3)));
    let name = concat!(module_path!(), "::paced");
    assert!(
        staunch::rate_limiter(name).is_some(),
        "named after the function"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_outside_the_attribute_waits_the_turn_out() {
    let started = tokio::time::Instant::now();
    retried().await.unwrap();
    retried().await.unwrap();
    assert_eq!(
        started.elapsed(),
        ms(500),
        "the second call retried once, after the turn it was told"
    );
}

#[tokio::test(start_paused = true)]
async fn a_change_at_run_time_reaches_the_attribute_and_keeps_the_calls_owed() {
    #[staunch::rate_limit(rate = "2/s", name = "rl-attr-tuned")]
    async fn tuned() -> Result<(), Error> {
        Ok(())
    }
    tokio::time::advance(secs(10)).await;
    tuned().await.unwrap();
    tuned().await.unwrap();
    assert_eq!(refusal(tuned().await), Some(ms(500)));

    let mut settings = Settings::new();
    let faster = RateLimitSettings {
        rate: Some(staunch::rate_limit::Rate {
            calls: 20,
            per: secs(1),
        }),
        burst: Some(4),
        ..RateLimitSettings::default()
    };
    settings.insert("rl-attr-tuned", faster);
    staunch::registry().change(settings).unwrap();
    let limiter = staunch::rate_limiter("rl-attr-tuned").unwrap();
    assert_eq!(
        (limiter.config().calls(), limiter.config().burst()),
        (20, 4)
    );
    // The two calls made are owed at the new rate: two of the four remain.
    assert_eq!(limiter.metrics().available, 2);
    tuned().await.unwrap();
    tuned().await.unwrap();
    assert_eq!(refusal(tuned().await), Some(ms(50)));

    let in_force = staunch::registry()
        .settings_in_force(staunch::InstanceKind::RateLimit, "rl-attr-tuned")
        .unwrap();
    assert_eq!(
        serde_json::to_string(&in_force).unwrap(),
        r#"{"rate":"20/s","burst":4,"max_wait":"0s"}"#
    );
    let bad: staunch::settings::Table =
        serde_json::from_str(r#"{"rate": "20 a second", "burst": 0}"#).unwrap();
    let error = staunch::registry()
        .change_instance("rl-attr-tuned", &bad)
        .unwrap_err();
    assert_eq!(error.errors().len(), 2, "{error}");
    assert_eq!(limiter.config().calls(), 20, "nothing changed");
}

#[test]
fn settings_read_the_attributes_words() {
    let settings: RateLimitSettings =
        serde_json::from_str(r#"{"rate": "5000/h", "max_wait": "1s"}"#).unwrap();
    let limiter = RateLimiter::builder(1, secs(1))
        .name("rl-settings-words")
        .build_shared()
        .unwrap();
    let mut all = Settings::new();
    all.insert("rl-settings-words", settings);
    staunch::registry().change(all).unwrap();
    let config = limiter.config();
    assert_eq!(
        (
            config.calls(),
            config.period(),
            config.burst(),
            config.max_wait()
        ),
        (5000, secs(3600), 5000, secs(1)),
        "a new rate brings its own default burst"
    );
    for (bad, says) in [
        (r#"{"rate": 100}"#, "rate: takes calls per period"),
        (
            r#"{"rate": "0/s"}"#,
            "rate: `rate` must be at least 1 call per period",
        ),
        (r#"{"burst": 0}"#, "burst: must be at least 1, got 0"),
        (r#"{"max_wait": "25h"}"#, "max_wait: must be at most a day"),
        (
            r#"{"brust": 3}"#,
            "brust: unknown key `brust`; did you mean `burst`?",
        ),
    ] {
        let error = serde_json::from_str::<RateLimitSettings>(bad).unwrap_err();
        assert!(error.to_string().starts_with(says), "{bad}: {error}");
    }
}

#[test]
fn the_snapshot_shows_a_named_limiter_with_its_settings() {
    let limiter = RateLimiter::builder(3, secs(1))
        .name("rl-snapshot")
        .build_shared()
        .unwrap();
    limiter.try_acquire().unwrap();
    let snapshot = staunch::registry().snapshot();
    let entry = snapshot
        .instances
        .iter()
        .find(|i| i.name == "rl-snapshot")
        .unwrap();
    let json = serde_json::to_value(entry).unwrap();
    assert_eq!(json["kind"], "rate_limit");
    assert_eq!(json["rejected"], 0);
    assert!(json["available"].as_u64().unwrap() <= 2);
    assert!(matches!(entry.settings, InstanceSettings::RateLimit(_)));
    assert_eq!(json["settings"]["rate"], "3/s");
    // A builder naming it again gets the same limiter.
    let again = RateLimiter::builder(3, secs(1))
        .name("rl-snapshot")
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(limiter, again));
}

#[test]
fn a_settings_file_tunes_a_limiter_under_its_attributes_name() {
    #[staunch::rate_limit(rate = "10/s", name = "rl-file-search")]
    async fn filed() -> Result<(), Error> {
        Ok(())
    }
    let settings = Settings::from_toml(
        "[rate_limit.rl-file-search]\nrate = \"600/m\"\nburst = 20\nmax_wait = \"50ms\"\n",
        "staunch.toml",
    )
    .unwrap();
    staunch::registry().configure(settings).unwrap();
    let limiter = staunch::rate_limiter("rl-file-search").expect("declared, made at startup");
    let config = limiter.config();
    assert_eq!(
        (
            config.calls(),
            config.period(),
            config.burst(),
            config.max_wait()
        ),
        (600, secs(60), 20, ms(50))
    );
    let bad = Settings::from_toml(
        "[rate_limit.rl-file-search]\nrate = \"fast\"\n",
        "staunch.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("staunch.toml") && bad.contains("invalid rate \"fast\""),
        "{bad}"
    );
    let unknown = Settings::from_toml(
        "[rate_limit.rl-file-serach]\nrate = \"1/s\"\n",
        "staunch.toml",
    )
    .map(|s| staunch::registry().configure(s));
    let message = format!("{unknown:?}");
    assert!(
        message.contains("did you mean `rl-file-search`?"),
        "{message}"
    );
    let _ = filed;
}

#[tokio::test(start_paused = true)]
async fn a_change_while_callers_wait_gives_none_of_their_turns_again() {
    let limiter = RateLimiter::builder(1, secs(1))
        .name("rl-change-waiting")
        .max_wait(secs(10))
        .build_shared()
        .unwrap();
    limiter.try_acquire().unwrap();
    // Five callers reserve the next five turns (1 s to 5 s away).
    let waiting: Vec<_> = (0..5)
        .map(|_| tokio::spawn(async move { limiter.acquire().await }))
        .collect();
    tokio::task::yield_now().await;
    let mut settings = Settings::new();
    settings.insert(
        "rl-change-waiting",
        RateLimitSettings {
            max_wait: Some(secs(5)),
            ..RateLimitSettings::default()
        },
    );
    staunch::registry().change(settings).unwrap();
    assert!(
        limiter.try_acquire().is_err(),
        "the reserved turns are not free"
    );
    for caller in waiting {
        caller.await.unwrap().unwrap();
    }
    assert!(
        limiter.try_acquire().is_err(),
        "the next turn is a second after the last"
    );
    tokio::time::advance(secs(1)).await;
    assert!(limiter.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_new_rate_keeps_a_burst_chosen_and_follows_a_default_one() {
    let chosen = RateLimiter::builder(10, secs(1))
        .name("rl-burst-chosen")
        .burst(3)
        .build_shared()
        .unwrap();
    let default = RateLimiter::builder(10, secs(1))
        .name("rl-burst-default")
        .build_shared()
        .unwrap();
    let table: staunch::settings::Table = serde_json::from_str(r#"{"rate": "100/s"}"#).unwrap();
    staunch::registry()
        .change_instance("rl-burst-chosen", &table)
        .unwrap();
    staunch::registry()
        .change_instance("rl-burst-default", &table)
        .unwrap();
    assert_eq!(chosen.config().burst(), 3);
    assert_eq!(default.config().burst(), 100);
}

#[staunch::rate_limit(rate = "1/s", max_wait = "5s", name = "rl-attr-cancelled")]
async fn queued() -> Result<(), Error> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_call_of_the_attribute_dropped_while_waiting_gives_its_turn_back() {
    queued().await.unwrap();
    let mut waiting = Box::pin(queued());
    assert!(poll_once(&mut waiting).await.is_pending());
    drop(waiting);
    let started = tokio::time::Instant::now();
    queued().await.unwrap();
    assert_eq!(
        started.elapsed(),
        secs(1),
        "the turn given back, the next caller's"
    );
}

#[staunch::circuit_breaker(name = "rl-outer-breaker", fail_max = 1)]
#[staunch::rate_limit(rate = "1/h", name = "rl-inner-of-breaker")]
async fn limited_behind_a_breaker() -> Result<(), Error> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_breaker_outside_counts_a_refusal_as_neither_failure_nor_success() {
    limited_behind_a_breaker().await.unwrap();
    for _ in 0..3 {
        assert!(refusal(limited_behind_a_breaker().await).is_some());
    }
    let breaker = staunch::breaker("rl-outer-breaker").unwrap();
    assert_eq!(
        breaker.state(),
        staunch::CircuitState::Closed,
        "fail_max = 1, yet closed"
    );
    assert_eq!(breaker.metrics().failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_name_used_again_with_other_settings_is_reported_and_changes_nothing() {
    let limiter = RateLimiter::builder(5, secs(1))
        .name("rl-conflict")
        .build_shared()
        .unwrap();
    let mut events = limiter.subscribe();
    let again = RateLimiter::builder(50, secs(1))
        .name("rl-conflict")
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(limiter, again));
    let conflict = events.try_recv().unwrap();
    assert!(
        matches!(
            &conflict,
            staunch::Event::SettingsConflict {
                kind: staunch::InstanceKind::RateLimit,
                name: "rl-conflict",
                ..
            }
        ),
        "{conflict:?}"
    );
    assert_eq!(limiter.config().calls(), 5);
}
