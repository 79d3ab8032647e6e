//! The benchmarked cases, shared by the timing benchmark (`layers`) and the allocation count
//! (`allocations`): each one is a trivial `async fn` (or `tower::Service`) returning `Ok(x)`,
//! run through staunch or through a peer, grouped so that every row of BENCHMARKS.md is
//! measured in one run.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use failsafe::futures::CircuitBreaker as _;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tower::{Layer as _, ServiceBuilder, ServiceExt as _};

/// The error of every benchmarked function.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("down")]
    Down,
    #[error(transparent)]
    Rejected(#[from] staunch::Rejected),
}

/// Every error a failure and transient, as without the impl: the default classifier of the
/// `staunch::tower` layers asks for it.
impl staunch::Classify for Error {}

/// The floor: the function every case wraps, called directly.
#[allow(clippy::unused_async)]
pub async fn direct(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::circuit_breaker(name = "bench-consecutive", fail_max = 5, reset = "30s")]
async fn breaker_consecutive(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::circuit_breaker(name = "bench-rate", window = 100, failure_rate = 50, reset = "30s")]
async fn breaker_rate(x: u64) -> Result<u64, Error> {
    Ok(x)
}

/// Opened by five failures (`x == 0`), then measured while OPEN.
#[staunch::circuit_breaker(name = "bench-open", fail_max = 5, reset = "1h")]
async fn breaker_open(x: u64) -> Result<u64, Error> {
    if x == 0 { Err(Error::Down) } else { Ok(x) }
}

#[staunch::retry(max = 3)]
async fn retry(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::bulkhead(name = "bench-bulkhead", limit = 10)]
async fn bulkhead(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::hedge(delay = "50ms", max = 2, name = "bench-hedge")]
async fn hedged(x: u64) -> Result<u64, Error> {
    direct(x).await
}

/// A store that counts what it is told, as a queue to Redis would take it in.
#[derive(Debug, Default)]
struct Told(std::sync::atomic::AtomicU64);

impl staunch::circuit_breaker::BreakerStore for Told {
    fn record(&self, _breaker: &'static str, _record: staunch::circuit_breaker::Record) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[staunch::cache(ttl = "1h", name = "bench-cache")]
async fn memoized(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::rate_limit(rate = "1000000000/s", name = "bench-rate-attribute")]
async fn rate_limited(x: u64) -> Result<u64, Error> {
    direct(x).await
}

#[staunch::bulkhead(name = "bench-bulkhead-wait", limit = 10, max_wait = "50ms")]
async fn bulkhead_wait(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::timeout("2s")]
async fn timeout(x: u64) -> Result<u64, Error> {
    Ok(x)
}

#[allow(clippy::unused_async)]
async fn cached(x: u64, _error: Error) -> Result<u64, Error> {
    Ok(x)
}

#[staunch::fallback(cached)]
#[staunch::retry(max = 4, backoff = "exp", jitter = "full")]
#[staunch::circuit_breaker(name = "bench-stack", fail_max = 5, reset = "30s")]
#[staunch::bulkhead(name = "bench-stack", limit = 10)]
#[staunch::timeout("2s")]
async fn stack(x: u64) -> Result<u64, Error> {
    Ok(x)
}

/// The least a layer can be: a future of its own around the call, with a state byte and one
/// `Acquire` load of shared state on its first poll (as a CLOSED breaker's), and nothing else.
/// Not a peer: the floor under every layer's row, on this machine.
static LAYER_STATE: AtomicU64 = AtomicU64::new(0);

pin_project_lite::pin_project! {
    struct MinimalLayer<F> {
        #[pin]
        inner: F,
        polled: bool,
    }
}

impl<F: Future> Future for MinimalLayer<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !*this.polled {
            *this.polled = LAYER_STATE.load(Ordering::Acquire) == 0;
        }
        this.inner.poll(cx)
    }
}

async fn minimal_layer(x: u64) -> Result<u64, Error> {
    MinimalLayer {
        inner: direct(x),
        polled: false,
    }
    .await
}

/// Receives the cases, each checked first by one call that answers as the case expects.
pub trait Visitor {
    /// One case of `group`: `call(&mut state, x)` once per measured call. `state` has served
    /// the checking call, so the call site is resolved and the peer warmed up.
    fn case<S, F>(&mut self, group: &str, name: &str, state: S, call: F)
    where
        S: Clone,
        F: AsyncFn(&mut S, u64) -> Option<u64>;
}

/// Checks each case before handing it on, and names its group.
struct Checked<'a, V> {
    rt: &'a Runtime,
    visitor: &'a mut V,
    group: &'static str,
}

impl<V: Visitor> Checked<'_, V> {
    /// Every following case belongs to group `name`.
    fn group(&mut self, name: &'static str) {
        self.group = name;
    }

    /// One case; `ok` says whether the call succeeds (`Some`) or is rejected (`None`).
    fn case<S, F>(&mut self, name: &str, ok: bool, mut state: S, call: F)
    where
        S: Clone,
        F: AsyncFn(&mut S, u64) -> Option<u64>,
    {
        let answer = self.rt.block_on(call(&mut state, 1));
        assert_eq!(
            answer.is_some(),
            ok,
            "{}/{name}: unexpected outcome",
            self.group
        );
        self.visitor.case(self.group, name, state, call);
    }
}

/// A `tower::Service` called as its users call it: wait until ready, then call.
async fn ready_call<S>(service: &mut S, x: u64) -> Option<u64>
where
    S: tower::Service<u64, Response = u64>,
{
    match service.ready().await {
        Ok(service) => service.call(x).await.ok(),
        Err(_) => None,
    }
}

/// The direct call as a `tower::Service`.
type DirectService = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, Error>>>;

fn tower_direct() -> DirectService {
    fn ready(x: u64) -> std::future::Ready<Result<u64, Error>> {
        std::future::ready(Ok(x))
    }
    tower::service_fn(ready as fn(u64) -> _)
}

/// tower-resilience's breaker over the direct service, opened by five failures in a row: the
/// peer of the breaker's groups, the attribute's and the layer's.
fn tower_resilience_breaker()
-> impl tower::Service<u64, Response = u64, Error: std::fmt::Debug> + Clone {
    tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .build()
        .expect("valid tower-resilience config")
        .layer_fn(tower_direct())
}

/// tower's `Retry` at its cheapest: the request copied for a retry that never comes.
#[derive(Clone, Copy)]
struct NeverRetry;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for NeverRetry {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _: &mut Req, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// tower's `Retry` with the policy its documentation builds: up to three attempts, spending from
/// a `TpsBudget` that every success credits.
#[derive(Clone)]
struct BudgetedRetry {
    attempts: usize,
    budget: std::sync::Arc<tower::retry::budget::TpsBudget>,
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for BudgetedRetry {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        use tower::retry::budget::Budget as _;
        match result {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) if self.attempts > 1 && self.budget.withdraw() => {
                self.attempts -= 1;
                Some(std::future::ready(()))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

fn recloser(closed_len: usize, error_rate: f32) -> recloser::AsyncRecloser {
    recloser::Recloser::custom()
        .closed_len(closed_len)
        .error_rate(error_rate)
        .open_wait(Duration::from_secs(3600))
        .build()
        .into()
}

fn failsafe_consecutive() -> failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
> {
    let backoff = failsafe::backoff::constant(Duration::from_secs(3600));
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(5, backoff))
        .build()
}

/// The current-thread runtime every case runs on.
pub fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Every case, in BENCHMARKS.md's order; `rt` is the current-thread runtime they run on.
#[allow(clippy::too_many_lines)] // one flat list reads best
pub fn visit(rt: &Runtime, visitor: &mut impl Visitor) {
    let v = &mut Checked {
        rt,
        visitor,
        group: "",
    };
    let floor = async |(): &mut (), x| direct(x).await.ok();

    v.group("layer_floor");
    v.case("direct", true, (), floor);
    v.case("minimal_layer", true, (), async |(), x| {
        minimal_layer(x).await.ok()
    });

    // A breaker whose state a fleet shares (through any `BreakerStore`, Redis's among them)
    // beside one of its own: a healthy CLOSED call tells the store nothing.
    v.group("breaker_closed_shared");
    v.case("direct", true, (), floor);
    let local = staunch::CircuitBreaker::builder("bench-local")
        .build()
        .expect("valid settings");
    v.case("staunch_local", true, &local, async |breaker, x| {
        breaker.call(|| direct(x)).await.ok()
    });
    let shared = staunch::CircuitBreaker::builder("bench-shared-store")
        .build()
        .expect("valid settings");
    shared
        .share_through(std::sync::Arc::new(Told::default()))
        .expect("not shared yet");
    v.case("staunch_shared", true, &shared, async |breaker, x| {
        breaker.call(|| direct(x)).await.ok()
    });

    v.group("breaker_closed_consecutive");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| {
        breaker_consecutive(x).await.ok()
    });
    // recloser has no consecutive policy: 5 failures out of the last 5 calls is one.
    v.case("recloser", true, recloser(5, 1.0), async |r, x| {
        r.call(direct(x)).await.ok()
    });
    v.case(
        "failsafe_default",
        true,
        failsafe::Config::new().build(),
        async |cb, x| cb.call(direct(x)).await.ok(),
    );
    v.case(
        "failsafe_consecutive",
        true,
        failsafe_consecutive(),
        async |cb, x| cb.call(direct(x)).await.ok(),
    );
    v.case(
        "tower_resilience",
        true,
        tower_resilience_breaker(),
        ready_call,
    );

    v.group("breaker_closed_rate");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| {
        breaker_rate(x).await.ok()
    });
    v.case("recloser", true, recloser(100, 0.5), async |r, x| {
        r.call(direct(x)).await.ok()
    });

    v.group("breaker_open_rejection");
    v.case("direct", true, (), floor);
    rt.block_on(async {
        for _ in 0..5 {
            let _ = breaker_open(0).await;
        }
    });
    v.case("staunch", false, (), async |(), x| {
        breaker_open(x).await.ok()
    });
    let tripped = recloser(5, 1.0);
    rt.block_on(async {
        // Its ring judges the rate once full: the sixth failure opens it.
        for _ in 0..6 {
            let _ = tripped.call(async { Err::<u64, Error>(Error::Down) }).await;
        }
    });
    v.case("recloser", false, tripped, async |r, x| {
        r.call(direct(x)).await.ok()
    });
    let tripped = failsafe_consecutive();
    rt.block_on(async {
        for _ in 0..5 {
            let _ = tripped.call(async { Err::<u64, Error>(Error::Down) }).await;
        }
    });
    v.case("failsafe", false, tripped, async |cb, x| {
        cb.call(direct(x)).await.ok()
    });
    let (layer, handle) = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(Duration::from_secs(3600))
        .build_with_handle()
        .expect("valid tower-resilience config");
    rt.block_on(handle.force_open());
    v.case(
        "tower_resilience",
        false,
        layer.layer_fn(tower_direct()),
        ready_call,
    );

    v.group("retry_first_attempt");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| retry(x).await.ok());
    v.case("backon", true, (), async |(), x| {
        (|| direct(x))
            .retry(ExponentialBuilder::default().with_max_times(2))
            .await
            .ok()
    });
    v.case("tokio_retry", true, (), async |(), x| {
        let strategy = tokio_retry::strategy::ExponentialBackoff::from_millis(100).take(2);
        tokio_retry::Retry::start(strategy, || direct(x)).await.ok()
    });

    v.group("bulkhead_fail_fast");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| bulkhead(x).await.ok());
    let semaphore = Semaphore::new(10);
    v.case("semaphore_try_acquire", true, &semaphore, async |s, x| {
        let _permit = s.try_acquire().ok()?;
        direct(x).await.ok()
    });

    v.group("bulkhead_max_wait");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| {
        bulkhead_wait(x).await.ok()
    });
    v.case("semaphore_acquire", true, &semaphore, async |s, x| {
        let _permit = s.acquire().await.ok()?;
        direct(x).await.ok()
    });
    v.case(
        "tower_concurrency_limit",
        true,
        tower::limit::ConcurrencyLimit::new(tower_direct(), 10),
        ready_call,
    );

    v.group("timeout_ready");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| timeout(x).await.ok());
    v.case("tokio_timeout", true, (), async |(), x| {
        tokio::time::timeout(Duration::from_secs(2), direct(x))
            .await
            .ok()?
            .ok()
    });
    v.case(
        "tower_timeout",
        true,
        tower::timeout::Timeout::new(tower_direct(), Duration::from_secs(2)),
        ready_call,
    );

    // Unsaturated: a turn each nanosecond, far more than a loop calls.
    v.group("rate_limit_unsaturated");
    v.case("direct", true, (), floor);
    let staunch_limiter = staunch::RateLimiter::builder(1_000_000_000, Duration::from_secs(1))
        .name("bench-rate")
        .build()
        .expect("valid settings");
    v.case("staunch", true, &staunch_limiter, async |limiter, x| {
        limiter.call(|| direct(x)).await.ok()
    });
    v.case("staunch_attribute", true, (), async |(), x| {
        rate_limited(x).await.ok()
    });
    v.case(
        "staunch_try_acquire",
        true,
        &staunch_limiter,
        async |limiter, x| {
            limiter.try_acquire().ok()?;
            direct(x).await.ok()
        },
    );
    let governor_limiter =
        governor::RateLimiter::direct(governor::Quota::per_second(std::num::NonZeroU32::MAX));
    v.case("governor", true, &governor_limiter, async |limiter, x| {
        limiter.check().ok()?;
        direct(x).await.ok()
    });
    // The same on the clock staunch reads (the monotonic clock tokio's time reads), not
    // quanta's TSC.
    let governor_std = governor::RateLimiter::direct_with_clock(
        governor::Quota::per_second(std::num::NonZeroU32::MAX),
        governor::clock::MonotonicClock,
    );
    v.case(
        "governor_std_clock",
        true,
        &governor_std,
        async |limiter, x| {
            limiter.check().ok()?;
            direct(x).await.ok()
        },
    );
    v.case("tokio_instant_now", true, (), async |(), x| {
        std::hint::black_box(tokio::time::Instant::now());
        direct(x).await.ok()
    });

    // The first attempt answers at its first poll: no timer, no second attempt.
    v.group("hedge_ready");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| hedged(x).await.ok());
    let hedge = staunch::Hedge::builder()
        .delay(Duration::from_millis(50))
        .build()
        .expect("valid settings");
    v.case("staunch_builder", true, &hedge, async |hedge, x| {
        hedge.call(|| direct(x)).await.ok()
    });

    // Every call a hit on one key (warmed up first), beside the eviction crate's own `get`
    // and moka's: staunch's hit adds a clock read (the entry's age) and the freshness.
    v.group("cache_hit");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| memoized(x).await.ok());
    let cache = staunch::Cache::builder(Duration::from_secs(3600))
        .build()
        .expect("valid settings");
    v.case("staunch_builder", true, &cache, async |cache, x| {
        cache
            .call(x, || direct(x))
            .await
            .ok()
            .map(staunch::cache::Cached::into_inner)
    });
    let quick = quick_cache::sync::Cache::<u64, u64>::new(10_000);
    quick.insert(1, 1);
    v.case("quick_cache_get", true, &quick, async |quick, x| {
        quick.get(&x)
    });
    let moka = moka::sync::Cache::<u64, u64>::new(10_000);
    moka.insert(1, 1);
    v.case("moka_get", true, &moka, async |moka, x| moka.get(&x));

    v.group("stack");
    v.case("direct", true, (), floor);
    v.case("staunch", true, (), async |(), x| stack(x).await.ok());
    v.case(
        "tower_limit_timeout",
        true,
        ServiceBuilder::new()
            .concurrency_limit(10)
            .timeout(Duration::from_secs(2))
            .service(tower_direct()),
        ready_call,
    );

    // The `staunch::tower` layers beside tower's and tower-resilience's. Each group's floor is
    // the bare service, and every case is one kept service made ready and called through
    // `&mut` (`ready_call`), as a tonic client does: no per-call clone of the stack.
    v.group("tower_breaker");
    v.case("direct", true, tower_direct(), ready_call);
    let breaker = staunch::CircuitBreaker::builder("bench-tower-breaker")
        .fail_max(5)
        .build_shared()
        .expect("valid staunch config");
    v.case(
        "staunch",
        true,
        staunch::tower::CircuitBreakerLayer::new(breaker).layer(tower_direct()),
        ready_call,
    );
    v.case(
        "tower_resilience",
        true,
        tower_resilience_breaker(),
        ready_call,
    );

    v.group("tower_bulkhead");
    v.case("direct", true, tower_direct(), ready_call);
    let bulkhead = staunch::Bulkhead::new(10).expect("valid staunch config");
    v.case(
        "staunch",
        true,
        staunch::tower::BulkheadLayer::new(bulkhead).layer(tower_direct()),
        ready_call,
    );
    // tower has no fail-fast limit: its permit is waited for in `poll_ready` (never full here).
    v.case(
        "tower_concurrency_limit",
        true,
        tower::limit::ConcurrencyLimitLayer::new(10).layer(tower_direct()),
        ready_call,
    );
    // `reject_when_full` is its fail-fast: a zero `max_wait_duration`.
    let layer = tower_resilience::bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(10)
        .reject_when_full()
        .build()
        .expect("valid tower-resilience config");
    v.case(
        "tower_resilience",
        true,
        layer.layer(tower_direct()),
        ready_call,
    );

    v.group("tower_rate_limit");
    v.case("direct", true, tower_direct(), ready_call);
    let limiter = staunch::RateLimiter::builder(1_000_000_000, Duration::from_secs(1))
        .build()
        .expect("valid staunch config");
    v.case(
        "staunch",
        true,
        staunch::tower::RateLimitLayer::new(limiter).layer(tower_direct()),
        ready_call,
    );
    // tower's is not `Clone` (it holds its sleep): shared through a `RefCell`, which costs a
    // borrow flag's check.
    // (It arms its sleep when made: in the runtime.)
    let tower_limit = {
        let _in_runtime = rt.enter();
        std::rc::Rc::new(std::cell::RefCell::new(tower::limit::RateLimit::new(
            tower_direct(),
            tower::limit::rate::Rate::new(u64::MAX, Duration::from_secs(1)),
        )))
    };
    v.case(
        "tower_rate_limit",
        true,
        tower_limit,
        async |limit: &mut std::rc::Rc<std::cell::RefCell<_>>, x| {
            std::future::poll_fn(|cx| tower::Service::poll_ready(&mut *limit.borrow_mut(), cx))
                .await
                .ok()?;
            let future = tower::Service::call(&mut *limit.borrow_mut(), x);
            future.await.ok()
        },
    );

    v.group("tower_timeout");
    v.case("direct", true, tower_direct(), ready_call);
    v.case(
        "staunch",
        true,
        staunch::tower::TimeoutLayer::new(Duration::from_secs(2)).layer(tower_direct()),
        ready_call,
    );
    v.case(
        "tower_timeout",
        true,
        tower::timeout::TimeoutLayer::new(Duration::from_secs(2)).layer(tower_direct()),
        ready_call,
    );
    let layer = tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(2))
        .build();
    v.case(
        "tower_resilience",
        true,
        layer.layer(tower_direct()),
        ready_call,
    );

    v.group("tower_retry");
    v.case("direct", true, tower_direct(), ready_call);
    let policy = staunch::Retry::exponential()
        .name("bench-tower-retry")
        .max_attempts(3)
        .build_shared()
        .expect("valid staunch config");
    v.case(
        "staunch",
        true,
        staunch::tower::RetryLayer::new(policy).layer(tower_direct()),
        ready_call,
    );
    v.case(
        "tower_retry",
        true,
        tower::retry::RetryLayer::new(NeverRetry).layer(tower_direct()),
        ready_call,
    );
    // Both with a budget that calls credit: the policies a service runs.
    let budget = staunch::RetryBudget::builder("bench-tower-retry")
        .build_shared()
        .expect("valid staunch config");
    v.case(
        "staunch_budget",
        true,
        staunch::tower::RetryLayer::new(policy)
            .with_budget(budget)
            .layer(tower_direct()),
        ready_call,
    );
    let budgeted = BudgetedRetry {
        attempts: 3,
        budget: std::sync::Arc::new(tower::retry::budget::TpsBudget::default()),
    };
    v.case(
        "tower_retry_budget",
        true,
        tower::retry::RetryLayer::new(budgeted).layer(tower_direct()),
        ready_call,
    );
    let layer = tower_resilience::retry::RetryLayer::<u64, u64, Error>::builder()
        .max_attempts(3)
        .build();
    v.case(
        "tower_resilience",
        true,
        layer.layer(tower_direct()),
        ready_call,
    );
}
