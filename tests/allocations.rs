//! Zero heap allocations per call: on the success path of every layer and of the whole stack,
//! and on the rejection path. Counted exactly by a counting allocator.

use std::future::Future;

use staunch::Rejected;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

mod support;
use support::Error;

#[staunch::circuit_breaker(name = "alloc-breaker", fail_max = 5)]
async fn breaker(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::circuit_breaker(name = "alloc-rate", window = 100, failure_rate = 50, slow_call = "1s")]
async fn rate_breaker(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::retry(max = 3)]
async fn retry(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::bulkhead(name = "alloc-bulkhead", limit = 4)]
async fn bulkhead(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::bulkhead(name = "alloc-bulkhead-wait", limit = 4, max_wait = "10ms")]
async fn bulkhead_wait(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::rate_limit(rate = "1000000/s", name = "alloc-rate-limit")]
async fn rate_limit(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::rate_limit(rate = "1/h", name = "alloc-rate-limited")]
async fn rate_limited(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::hedge(delay = "50ms", max = 3, name = "alloc-hedge")]
async fn hedged(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::cache(ttl = "1h", name = "alloc-cache")]
async fn cached(key: &str, x: u64) -> Result<u64, Error> {
    Ok(x + key.len() as u64)
}

#[staunch::timeout("1s")]
async fn timeout(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[allow(clippy::unused_async)]
async fn fallback_answer(x: u64, _error: Error) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::fallback(fallback_answer)]
async fn fallback(x: u64) -> Result<u64, Error> {
    if x == 0 { Err(Error::Down) } else { Ok(x) }
}

#[staunch::fallback(fallback_answer)]
#[staunch::retry(max = 4, backoff = "exp", jitter = "full")]
#[staunch::circuit_breaker(name = "alloc-stack", fail_max = 5, reset = "30s")]
#[staunch::rate_limit(rate = "1000000/s", name = "alloc-stack")]
#[staunch::bulkhead(name = "alloc-stack", limit = 10)]
#[staunch::timeout("2s")]
async fn stack(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::circuit_breaker(name = "alloc-open", fail_max = 1)]
async fn open_breaker(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::bulkhead(name = "alloc-full", limit = 1)]
async fn full_bulkhead(hold: bool) -> Result<(), Error> {
    if hold {
        std::future::pending::<()>().await;
    }
    Ok(())
}

/// Allocations made by one call of `f`, after a warm-up call that resolves the call site.
fn allocations<F: Future>(rt: &tokio::runtime::Runtime, f: impl FnMut() -> F) -> u64 {
    rt.block_on(allocations_inside(f))
}

#[test]
fn no_layer_allocates_per_call() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(allocations(&rt, || breaker(1)), 0, "breaker");
    assert_eq!(
        allocations(&rt, || rate_breaker(1)),
        0,
        "failure-rate breaker"
    );
    assert_eq!(allocations(&rt, || retry(1)), 0, "retry");
    assert_eq!(allocations(&rt, || bulkhead(1)), 0, "bulkhead");
    assert_eq!(
        allocations(&rt, || bulkhead_wait(1)),
        0,
        "bulkhead with max_wait"
    );
    assert_eq!(allocations(&rt, || rate_limit(1)), 0, "rate limit");
    assert_eq!(allocations(&rt, || hedged(1)), 0, "hedge answered at once");
    rt.block_on(cached("a borrowed key", 1)).unwrap();
    assert_eq!(
        allocations(&rt, || cached("a borrowed key", 1)),
        0,
        "cache hit: the key looked up borrowed, nothing cloned"
    );
    assert_eq!(allocations(&rt, || timeout(1)), 0, "timeout");
    assert_eq!(allocations(&rt, || fallback(1)), 0, "fallback");
    assert_eq!(allocations(&rt, || fallback(0)), 0, "fallback answering");
    assert_eq!(allocations(&rt, || stack(1)), 0, "all six stacked");
    rt.block_on(rate_limited(1)).unwrap();
    assert_eq!(
        allocations(&rt, || rate_limited(1)),
        0,
        "rejection by a rate limiter"
    );
    let limited = staunch::rate_limiter("alloc-rate-limited").unwrap();
    assert_eq!(limited.metrics().rejected, 11);

    rt.block_on(open_breaker(1)).unwrap();
    staunch::breaker("alloc-open").unwrap().force_open();
    let rejected = rt.block_on(open_breaker(1));
    assert!(matches!(
        rejected,
        Err(Error::Rejected(Rejected::CircuitOpen { .. }))
    ));
    assert_eq!(
        allocations(&rt, || open_breaker(1)),
        0,
        "rejection by an open breaker"
    );

    let full = rt.block_on(async {
        let held = tokio::spawn(full_bulkhead(true));
        tokio::task::yield_now().await;
        let rejected = full_bulkhead(false).await;
        assert!(matches!(
            rejected,
            Err(Error::Rejected(Rejected::BulkheadFull { .. }))
        ));
        let n = allocations_inside(|| full_bulkhead(false)).await;
        held.abort();
        n
    });
    assert_eq!(full, 0, "rejection by a full bulkhead");
}

#[test]
fn the_rate_limiter_allocates_nothing_admitting_waiting_or_refusing() {
    use staunch::RateLimiter;
    use std::time::Duration;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let free = RateLimiter::builder(1000, Duration::from_secs(1))
        .build()
        .unwrap();
    let call =
        |limiter: &'static RateLimiter| move || limiter.call(|| async { Ok::<_, Rejected>(1) });
    let free: &'static RateLimiter = Box::leak(Box::new(free));
    assert_eq!(allocations(&rt, call(free)), 0, "a turn free");
    // One turn each millisecond, every caller waiting for the next.
    let waiting = RateLimiter::builder(1000, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let waiting: &'static RateLimiter = Box::leak(Box::new(waiting));
    let started = rt.block_on(async { tokio::time::Instant::now() });
    assert_eq!(allocations(&rt, call(waiting)), 0, "waiting for a turn");
    assert!(
        rt.block_on(async { started.elapsed() }) >= Duration::from_millis(10),
        "each call after the first waited"
    );
    assert_eq!(
        waiting.metrics().rejected,
        0,
        "every caller waited its turn"
    );
    let saturated = RateLimiter::builder(1, Duration::from_secs(3600))
        .build()
        .unwrap();
    let saturated: &'static RateLimiter = Box::leak(Box::new(saturated));
    assert!(saturated.try_acquire().is_ok());
    assert_eq!(allocations(&rt, call(saturated)), 0, "refused");
    assert_eq!(saturated.metrics().rejected, 11);
}

/// Allocations made by ten calls of `f`, after a warm-up call that resolves the call site.
async fn allocations_inside<F: Future>(mut f: impl FnMut() -> F) -> u64 {
    f().await;
    counting_alloc::allocations_during(async {
        for _ in 0..10 {
            f().await;
        }
    })
    .await
}

/// The tower layers, stacked over a service that allocates nothing: nothing per call on the
/// success path, nor when an open breaker turns a call away.
#[test]
fn no_tower_layer_allocates_per_call() {
    use staunch::tower::{
        BulkheadLayer, CircuitBreakerLayer, RateLimitLayer, RetryLayer, TimeoutLayer,
    };
    use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

    #[derive(Debug)]
    struct Refused(Rejected);
    impl From<Rejected> for Refused {
        fn from(rejected: Rejected) -> Self {
            Self(rejected)
        }
    }
    impl staunch::Classify for Refused {
        fn rejection(&self) -> Option<&Rejected> {
            Some(&self.0)
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let breaker = staunch::CircuitBreaker::builder("alloc-tower")
        .fail_max(5)
        .build_shared()
        .unwrap();
    let inner = service_fn(|x: u64| std::future::ready(Ok::<_, Refused>(x)));
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(
            staunch::Retry::exponential()
                .max_attempts(4)
                .build_shared()
                .unwrap(),
        ))
        .layer(CircuitBreakerLayer::new(breaker))
        .layer(BulkheadLayer::new(staunch::Bulkhead::new(10).unwrap()))
        .layer(RateLimitLayer::new(
            staunch::RateLimiter::builder(1_000_000, std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
        ))
        .layer(TimeoutLayer::new(std::time::Duration::from_secs(2)))
        .service(inner);
    let mut service = stack.clone();
    let calls = || {
        let mut service = stack.clone();
        async move {
            let _ = service.ready().await.unwrap().call(1).await;
        }
    };
    // The clone above is the test's; it costs what the inner service's clone does (nothing).
    assert_eq!(rt.block_on(allocations_inside(calls)), 0, "tower stack");
    breaker.force_open();
    let refused = rt.block_on(async { service.ready().await.unwrap().call(1).await });
    assert!(matches!(
        refused,
        Err(Refused(Rejected::CircuitOpen { .. }))
    ));
    assert_eq!(
        rt.block_on(allocations_inside(calls)),
        0,
        "tower rejection by an open breaker"
    );
}
