//! `#[retry]` and `Retry`: attempts, backoff, jitter, deadlines, Retry-After, classification.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use staunch::{Classify, Jitter, Rejected, Retry};
use tokio::time::Instant;

mod support;
use support::ms;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Error {
    #[error("busy")]
    Busy,
    #[error("not found")]
    NotFound,
    #[error("throttled")]
    Throttled(Duration),
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

impl Classify for Error {
    fn is_transient(&self) -> bool {
        !matches!(self, Error::NotFound)
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Throttled(after) => Some(*after),
            _ => None,
        }
    }
}

/// The offsets from the first attempt at which each attempt started.
#[derive(Default)]
struct Log(Mutex<Vec<Instant>>);

impl Log {
    fn hit(&self) -> usize {
        let mut log = self.0.lock().unwrap();
        log.push(Instant::now());
        log.len()
    }
    fn gaps(&self) -> Vec<Duration> {
        let log = self.0.lock().unwrap();
        log.windows(2).map(|w| w[1] - w[0]).collect()
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_without_jitter_doubles_each_delay() {
    static LOG: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(max = 4, base = "100ms", jitter = "none")]
    async fn busy() -> Result<(), Error> {
        LOG.hit();
        Err(Error::Busy)
    }
    assert_eq!(busy().await, Err(Error::Busy));
    assert_eq!(LOG.count(), 4, "max counts the first attempt");
    assert_eq!(LOG.gaps(), [ms(100), ms(200), ms(400)]);
}

#[tokio::test(start_paused = true)]
async fn factor_constant_linear_and_max_delay_shape_the_delays() {
    static EXP3: Log = Log(Mutex::new(Vec::new()));
    static CONSTANT: Log = Log(Mutex::new(Vec::new()));
    static LINEAR: Log = Log(Mutex::new(Vec::new()));
    static CAPPED: Log = Log(Mutex::new(Vec::new()));

    #[staunch::retry(max = 3, base = "10ms", factor = 3, jitter = "none")]
    async fn exp3() -> Result<(), Error> {
        EXP3.hit();
        Err(Error::Busy)
    }
    #[staunch::retry(max = 4, backoff = "constant", base = "50ms", jitter = "none")]
    async fn constant() -> Result<(), Error> {
        CONSTANT.hit();
        Err(Error::Busy)
    }
    #[staunch::retry(max = 4, backoff = "linear", base = "50ms", jitter = "none")]
    async fn linear() -> Result<(), Error> {
        LINEAR.hit();
        Err(Error::Busy)
    }
    #[staunch::retry(max = 5, base = "1s", max_delay = "3s", jitter = "none")]
    async fn capped() -> Result<(), Error> {
        CAPPED.hit();
        Err(Error::Busy)
    }

    let _ = tokio::join!(exp3(), constant(), linear(), capped());
    assert_eq!(EXP3.gaps(), [ms(10), ms(30)]);
    assert_eq!(CONSTANT.gaps(), [ms(50), ms(50), ms(50)]);
    assert_eq!(LINEAR.gaps(), [ms(50), ms(100), ms(150)]);
    assert_eq!(CAPPED.gaps(), [ms(1000), ms(2000), ms(3000), ms(3000)]);
}

async fn gaps_of(policy: &staunch::RetryPolicy) -> Vec<Duration> {
    let log = Log::default();
    let _: Result<(), Error> = policy
        .call(|| {
            log.hit();
            async { Err(Error::Busy) }
        })
        .await;
    log.gaps()
}

fn exp(jitter: Jitter) -> Retry {
    Retry::exponential()
        .max_attempts(6)
        .base(ms(100))
        .max_delay(ms(1000))
        .jitter(jitter)
}

#[tokio::test(start_paused = true)]
async fn each_jitter_stays_within_its_aws_bounds() {
    let nominal = [100, 200, 400, 800, 1000].map(ms);
    for seed in 0..20 {
        let full = gaps_of(&exp(Jitter::Full).seed(seed).build().unwrap()).await;
        let equal = gaps_of(&exp(Jitter::Equal).seed(seed).build().unwrap()).await;
        let decorrelated = gaps_of(&exp(Jitter::Decorrelated).seed(seed).build().unwrap()).await;
        for (i, d) in nominal.iter().enumerate() {
            assert!(full[i] <= *d, "full: {:?} > {d:?}", full[i]);
            assert!(
                equal[i] >= *d / 2 && equal[i] <= *d,
                "equal: {:?} vs {d:?}",
                equal[i]
            );
        }
        let mut previous = ms(100);
        for gap in decorrelated {
            assert!(
                gap >= ms(100) && gap <= (previous * 3).min(ms(1000)),
                "decorrelated: {gap:?}"
            );
            previous = gap;
        }
    }
    // Jitter actually spreads callers.
    let a = gaps_of(&exp(Jitter::Full).seed(1).build().unwrap()).await;
    let b = gaps_of(&exp(Jitter::Full).seed(2).build().unwrap()).await;
    assert_ne!(a, b);
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_is_deterministic() {
    let policy = exp(Jitter::Full).seed(7).build().unwrap();
    assert_eq!(gaps_of(&policy).await, gaps_of(&policy).await);

    static FIRST: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(max = 4, jitter = "full")]
    async fn flaky() -> Result<(), Error> {
        FIRST.hit();
        Err(Error::Busy)
    }
    staunch::seed_thread_jitter(99);
    let _ = flaky().await;
    let first = FIRST.gaps();
    FIRST.0.lock().unwrap().clear();
    staunch::seed_thread_jitter(99);
    let _ = flaky().await;
    assert_eq!(FIRST.gaps(), first);
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_starts_no_attempt_past_the_deadline() {
    static LOG: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(
        max = 10,
        backoff = "constant",
        base = "400ms",
        jitter = "none",
        max_elapsed = "1s"
    )]
    async fn slow_to_fail() -> Result<(), Error> {
        LOG.hit();
        tokio::time::sleep(ms(100)).await;
        Err(Error::Busy)
    }
    let start = Instant::now();
    assert_eq!(slow_to_fail().await, Err(Error::Busy));
    // Attempts start at 0 and 500 ms; a third would start at 1000 ms, not before the deadline.
    assert_eq!(LOG.count(), 2);
    assert!(start.elapsed() <= Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn retry_after_lengthens_the_sleep_and_a_hostile_one_is_capped() {
    static LOG: Log = Log(Mutex::new(Vec::new()));
    static HOSTILE: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(max = 2, base = "10ms", jitter = "none")]
    async fn throttled() -> Result<(), Error> {
        LOG.hit();
        Err(Error::Throttled(Duration::from_secs(3)))
    }
    #[staunch::retry(max = 2, base = "10ms", jitter = "none", max_delay = "5s")]
    async fn hostile() -> Result<(), Error> {
        HOSTILE.hit();
        Err(Error::Throttled(Duration::from_secs(999_999_999)))
    }
    let _ = throttled().await;
    assert_eq!(LOG.gaps(), [Duration::from_secs(3)]);
    let _ = hostile().await;
    assert_eq!(HOSTILE.gaps(), [Duration::from_secs(5)]);
}

#[tokio::test(start_paused = true)]
async fn classification_decides_what_is_retried() {
    static NOT_FOUND: AtomicU32 = AtomicU32::new(0);
    static PREDICATE: AtomicU32 = AtomicU32::new(0);
    static UNCLASSIFIED: AtomicU32 = AtomicU32::new(0);

    #[staunch::retry(max = 3)]
    async fn not_found() -> Result<(), Error> {
        NOT_FOUND.fetch_add(1, Ordering::SeqCst);
        Err(Error::NotFound)
    }

    fn only_not_found(e: &Error) -> bool {
        *e == Error::NotFound
    }
    // An explicit predicate wins over the error's Classify.
    #[staunch::retry(max = 3, when = only_not_found)]
    async fn predicate(fail_with: Error) -> Result<(), Error> {
        PREDICATE.fetch_add(1, Ordering::SeqCst);
        Err(fail_with)
    }

    // No Classify: every error is retried.
    #[derive(Debug)]
    struct Opaque;
    #[staunch::retry(max = 3, base = "1ms")]
    async fn unclassified() -> Result<(), Opaque> {
        UNCLASSIFIED.fetch_add(1, Ordering::SeqCst);
        Err(Opaque)
    }

    let _ = not_found().await;
    assert_eq!(NOT_FOUND.load(Ordering::SeqCst), 1);
    let _ = predicate(Error::Busy).await;
    assert_eq!(PREDICATE.load(Ordering::SeqCst), 1);
    let _ = predicate(Error::NotFound).await;
    assert_eq!(PREDICATE.load(Ordering::SeqCst), 4);
    let _ = unclassified().await;
    assert_eq!(UNCLASSIFIED.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn success_ends_the_retries() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[staunch::retry(max = 5)]
    async fn third_time_lucky(tag: String) -> Result<String, Error> {
        if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(Error::Busy);
        }
        Ok(tag)
    }
    assert_eq!(third_time_lucky("ok".into()).await.unwrap(), "ok");
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_full_bulkheads_inside_are_retried() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[staunch::retry(max = 3, base = "1ms")]
    #[staunch::timeout("50ms")]
    async fn hangs_twice() -> Result<u32, Error> {
        if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
            std::future::pending::<()>().await;
        }
        Ok(7)
    }
    assert_eq!(hangs_twice().await, Ok(7));
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);

    #[staunch::retry(max = 3, backoff = "constant", base = "100ms", jitter = "none")]
    #[staunch::bulkhead(name = "retry-bulkhead", limit = 1)]
    async fn guarded(hold: Duration) -> Result<(), Error> {
        tokio::time::sleep(hold).await;
        Ok(())
    }
    // The first call holds the only slot for 150 ms; the second is refused at 0 and 100 ms,
    // then admitted at 200 ms.
    let (first, second) = tokio::join!(guarded(ms(150)), async {
        tokio::task::yield_now().await;
        guarded(Duration::ZERO).await
    });
    assert_eq!((first, second), (Ok(()), Ok(())));
}

#[tokio::test(start_paused = true)]
async fn retry_never_reenters_an_open_breaker() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    #[staunch::retry(max = 5, base = "1ms")]
    #[staunch::circuit_breaker(name = "retry-open", fail_max = 2, reset = "1m")]
    async fn down() -> Result<(), Error> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Err(Error::Busy)
    }
    let result = down().await;
    assert!(
        matches!(result, Err(Error::Rejected(Rejected::CircuitOpen { .. }))),
        "{result:?}"
    );
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        2,
        "the breaker opened after two failures"
    );
    let rejected = staunch::breaker("retry-open").unwrap().metrics().rejected;
    assert_eq!(rejected, 1, "one rejection, then retry stopped");
}

#[tokio::test(start_paused = true)]
async fn retries_are_counted_in_the_registry() {
    #[staunch::retry(max = 3, base = "1ms")]
    async fn counted() -> Result<(), Error> {
        Err(Error::Busy)
    }
    let _ = counted().await;
    let snapshot = staunch::registry().snapshot();
    let entry = snapshot
        .instances
        .iter()
        .find(|i| i.name.ends_with("::counted"))
        .expect("a retry that retried is in the registry");
    assert_eq!(
        entry.detail,
        staunch::Detail::Retry(staunch::RetryMetrics {
            retries: 2,
            exhausted: 1
        })
    );
}

#[test]
fn invalid_builders_are_errors_not_panics() {
    assert!(Retry::exponential().max_attempts(0).build().is_err());
    assert!(Retry::exponential().factor(0.5).build().is_err());
    assert!(Retry::exponential().factor(f64::INFINITY).build().is_err());
    assert!(Retry::constant().factor(2.0).build().is_err());
    assert!(
        Retry::exponential()
            .max_delay(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        Retry::exponential()
            .max_elapsed(Duration::ZERO)
            .build()
            .is_err()
    );
    let policy = Retry::exponential()
        .max_attempts(u32::MAX)
        .max_delay(Duration::MAX)
        .build();
    assert!(policy.is_ok(), "extreme but valid values are accepted");
}

#[tokio::test(start_paused = true)]
async fn extreme_policies_stay_bounded() {
    // u32::MAX attempts with a huge factor: delays saturate at max_delay, nothing overflows.
    let policy = Retry::exponential()
        .max_attempts(u32::MAX)
        .factor(1e300)
        .max_delay(Duration::MAX)
        .max_elapsed(Duration::from_secs(3600))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let log = Log::default();
    let _: Result<(), Error> = policy
        .call(|| {
            log.hit();
            async { Err(Error::Busy) }
        })
        .await;
    assert!(log.count() >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_stops_retries_until_it_refills() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let budget = staunch::RetryBudget::builder("retry-budget")
        .ratio(0.0)
        .min_per_sec(1)
        .max_balance(2)
        .build_shared()
        .unwrap();

    #[staunch::retry(max = 5, base = "1ms", jitter = "none", budget = "retry-budget")]
    async fn down() -> Result<(), Error> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Err(Error::Busy)
    }

    assert_eq!(down().await, Err(Error::Busy));
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        3,
        "two banked retries, then the budget is spent"
    );
    assert_eq!(down().await, Err(Error::Busy));
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        4,
        "no retry at all while spent"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(down().await, Err(Error::Busy));
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        6,
        "one retry earned by a second of floor"
    );
    let metrics = budget.metrics();
    assert_eq!((metrics.spent, metrics.refused), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn first_attempts_earn_retries_at_the_budget_ratio() {
    let budget = staunch::RetryBudget::builder("retry-budget-ratio")
        .ratio(0.5)
        .min_per_sec(0)
        .max_balance(1)
        .build_shared()
        .unwrap();
    assert!(budget.try_withdraw());
    assert!(!budget.try_withdraw());
    budget.deposit();
    assert!(!budget.try_withdraw(), "half a retry is not a retry");
    budget.deposit();
    assert!(budget.try_withdraw());
    assert!(
        staunch::RetryBudget::builder("x")
            .ratio(1.5)
            .config()
            .is_err()
    );
    assert!(
        staunch::RetryBudget::builder("x")
            .max_balance(0)
            .config()
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_policy_is_in_the_registry_from_its_first_retry() {
    #[staunch::retry(max = 2, base = "1ms")]
    async fn retried_once() -> Result<(), Error> {
        Err(Error::Busy)
    }
    let _ = retried_once().await;
    let snapshot = staunch::registry().snapshot();
    let entry = snapshot
        .instances
        .iter()
        .find(|i| i.name.ends_with("::retried_once"))
        .expect("listed after its one retry");
    assert_eq!(
        entry.detail,
        staunch::Detail::Retry(staunch::RetryMetrics {
            retries: 1,
            exhausted: 1
        })
    );
}

// ---------------------------------------------------------------------------------------------
// `base` and `max_delay`: a default never makes a written value invalid, and no pause exceeds
// `max_delay`, whatever the jitter.
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_max_delay_below_the_default_base_is_accepted_and_caps_every_pause() {
    static LOG: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(max = 3, max_delay = "50ms", jitter = "none")]
    async fn capped() -> Result<(), Error> {
        LOG.hit();
        Err(Error::Busy)
    }
    assert_eq!(capped().await, Err(Error::Busy));
    assert_eq!(LOG.gaps(), [ms(50), ms(50)]);

    let builder = Retry::exponential()
        .max_attempts(3)
        .max_delay(ms(50))
        .jitter(Jitter::None)
        .build()
        .expect("the attribute accepts the same settings");
    assert_eq!(gaps_of(&builder).await, [ms(50), ms(50)]);
}

#[tokio::test(start_paused = true)]
async fn a_base_above_the_default_max_delay_is_accepted_and_raises_the_cap() {
    static LOG: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(max = 3, base = "20s", jitter = "none")]
    async fn slow_start() -> Result<(), Error> {
        LOG.hit();
        Err(Error::Busy)
    }
    assert_eq!(slow_start().await, Err(Error::Busy));
    assert_eq!(
        LOG.gaps(),
        [Duration::from_secs(20), Duration::from_secs(20)]
    );

    let builder = Retry::exponential()
        .max_attempts(3)
        .base(Duration::from_secs(20))
        .jitter(Jitter::None)
        .build()
        .expect("the attribute accepts the same settings");
    assert_eq!(
        gaps_of(&builder).await,
        [Duration::from_secs(20), Duration::from_secs(20)]
    );
}

#[test]
fn a_written_base_above_a_written_max_delay_is_refused_with_the_attributes_message() {
    let error = Retry::exponential()
        .base(Duration::from_secs(20))
        .max_delay(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        staunch::ConfigError::Exceeds {
            option: "base",
            limit: "max_delay"
        }
    );
    // tests/ui/fail/retry_base_above_max_delay.stderr has the same sentence.
    assert_eq!(error.to_string(), "`base` must not exceed `max_delay`");
}

#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_never_pauses_longer_than_max_delay() {
    static LOG: Log = Log(Mutex::new(Vec::new()));
    #[staunch::retry(max = 12, max_delay = "50ms", jitter = "decorrelated")]
    async fn decorrelated() -> Result<(), Error> {
        LOG.hit();
        Err(Error::Busy)
    }
    staunch::seed_thread_jitter(7);
    assert_eq!(decorrelated().await, Err(Error::Busy));
    let gaps = LOG.gaps();
    assert_eq!(gaps.len(), 11);
    assert!(gaps.iter().all(|gap| *gap <= ms(50)), "{gaps:?}");

    for seed in 0..20 {
        let policy = Retry::exponential()
            .max_attempts(12)
            .base(ms(40))
            .max_delay(ms(50))
            .jitter(Jitter::Decorrelated)
            .seed(seed)
            .build()
            .unwrap();
        let gaps = gaps_of(&policy).await;
        assert!(
            gaps.iter().all(|gap| *gap <= ms(50)),
            "seed {seed}: {gaps:?}"
        );
        assert!(
            gaps.iter().all(|gap| *gap >= ms(40)),
            "seed {seed}: {gaps:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_budget_built_to_reject_ends_the_call_with_budget_exhausted() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let budget = staunch::RetryBudget::builder("retry-budget-rejects")
        .ratio(0.0)
        .min_per_sec(0)
        .max_balance(1)
        .reject_when_exhausted(true)
        .build_shared()
        .unwrap();
    assert!(budget.config().rejects_when_exhausted());

    #[staunch::retry(
        max = 5,
        base = "1ms",
        jitter = "none",
        budget = "retry-budget-rejects"
    )]
    async fn down() -> Result<(), Error> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Err(Error::Busy)
    }

    assert_eq!(
        down().await,
        Err(Error::Rejected(Rejected::BudgetExhausted {
            name: "retry-budget-rejects"
        }))
    );
    assert_eq!(CALLS.load(Ordering::SeqCst), 2, "one banked retry");
    assert_eq!(
        down().await,
        Err(Error::Rejected(Rejected::BudgetExhausted {
            name: "retry-budget-rejects"
        })),
        "a spent budget rejects at the first retry"
    );
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    // A call that needs no retry is not refused.
    #[staunch::retry(budget = "retry-budget-rejects")]
    async fn fine() -> Result<u32, Error> {
        Ok(1)
    }
    assert_eq!(fine().await, Ok(1));
}

/// Counts the attempts of a call that always fails.
async fn always_busy(policy: &staunch::RetryPolicy, attempts: &AtomicU32) -> Result<(), Error> {
    policy
        .call(|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            Err(Error::Busy)
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn a_policy_changed_at_run_time_reaches_the_next_call_not_one_already_retrying() {
    let policy = Retry::constant()
        .name("retry-retuned")
        .max_attempts(3)
        .base(ms(100))
        .jitter(Jitter::None)
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(
        policy,
        staunch::registry().retry("retry-retuned").unwrap()
    ));
    let mut events = policy.subscribe();

    // A call fails once and sleeps before its second attempt when the policy changes.
    let attempts = AtomicU32::new(0);
    let mut retrying = Box::pin(always_busy(policy, &attempts));
    assert!(support::poll_once(&mut retrying).await.is_pending());
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
    let patient = Retry::constant()
        .name("retry-retuned")
        .max_attempts(6)
        .base(ms(10))
        .jitter(Jitter::None)
        .config()
        .unwrap();
    let old = policy.reconfigure(patient).unwrap();
    assert_eq!((old.max_attempts(), policy.config()), (3, patient));
    let started = Instant::now();
    assert_eq!(retrying.await, Err(Error::Busy));
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        3,
        "kept the settings it started with"
    );
    assert_eq!(started.elapsed(), ms(200));

    // The next call retries as the new settings say.
    let attempts = AtomicU32::new(0);
    let started = Instant::now();
    assert_eq!(always_busy(policy, &attempts).await, Err(Error::Busy));
    assert_eq!(attempts.load(Ordering::Relaxed), 6);
    assert_eq!(started.elapsed(), ms(50));

    let changed = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|event| matches!(event, staunch::Event::SettingsChanged { .. }))
        .count();
    assert_eq!(changed, 1);
}

#[tokio::test(start_paused = true)]
async fn a_changed_max_elapsed_bounds_the_next_call() {
    let policy = Retry::constant()
        .name("retry-deadline")
        .max_attempts(10)
        .base(ms(100))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let bounded = Retry::constant()
        .name("retry-deadline")
        .max_attempts(10)
        .base(ms(100))
        .jitter(Jitter::None)
        .max_elapsed(ms(250))
        .config()
        .unwrap();
    policy.reconfigure(bounded).unwrap();
    let attempts = AtomicU32::new(0);
    assert_eq!(always_busy(&policy, &attempts).await, Err(Error::Busy));
    // Attempts at 0, 100 and 200 ms; the one at 300 ms would start after the deadline.
    assert_eq!(attempts.load(Ordering::Relaxed), 3);
}

#[test]
fn a_policy_keeps_its_name_and_a_shared_one_its_first_settings() {
    let policy = Retry::exponential().name("retry-named").build().unwrap();
    let other = Retry::exponential().name("retry-other").config().unwrap();
    assert!(matches!(
        policy.reconfigure(other),
        Err(staunch::ConfigError::Conflict("name", _))
    ));
    let first = Retry::linear()
        .name("retry-shared-twice")
        .max_attempts(2)
        .build_shared()
        .unwrap();
    let second = Retry::linear()
        .name("retry-shared-twice")
        .max_attempts(5)
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(first, second));
    assert_eq!(second.max_attempts(), 2);
}
