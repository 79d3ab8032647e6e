//! Stress on a multi-thread runtime: thousands of tasks racing through bulkheads and a
//! half-open breaker, a third of them cancelled at random points (dropped at their n-th poll,
//! or aborted from outside), and named instances created concurrently from many call sites.
//!
//! Nothing here sleeps: bodies yield, trials are held by a gate, and the breaker's `reset` is
//! a nanosecond, so each test takes milliseconds. What they assert holds for every
//! interleaving (a bound, a count at rest), so they cannot be flaky; what they cannot promise
//! is to hit every interleaving, which `tests/loom.rs` of the runtime does for the atomics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use staunch::{Bulkhead, CircuitBreaker, CircuitState, Rejected, RetryBudget};
use tokio::sync::watch;
use tokio::task::yield_now;

mod support;
use support::Error;

/// Drops `inner` unfinished at its `polls`-th poll (0: before the first), as a `select!` that
/// picked another branch does.
struct CancelAfter<F> {
    inner: Option<Pin<Box<F>>>,
    polls: u32,
}

impl<F: Future> Future for CancelAfter<F> {
    /// `None` when cancelled.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            self.inner = None;
            return Poll::Ready(None);
        }
        self.polls -= 1;
        match self
            .inner
            .as_mut()
            .expect("polled after completion")
            .as_mut()
            .poll(cx)
        {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn cancel_after<F: Future>(polls: u32, inner: F) -> CancelAfter<F> {
    CancelAfter {
        inner: Some(Box::pin(inner)),
        polls,
    }
}

/// Calls inside a body right now, and the most ever seen at once.
#[derive(Default)]
struct Occupancy {
    inside: AtomicUsize,
    peak: AtomicUsize,
    entered: AtomicUsize,
}

/// Held by a body while it runs; counts it out when it finishes or is dropped.
struct Inside<'a>(&'a Occupancy);

impl Occupancy {
    fn enter(&self) -> Inside<'_> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.entered.fetch_add(1, Ordering::SeqCst);
        Inside(self)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How each task ends.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    rejected: AtomicUsize,
    cancelled: AtomicUsize,
}

const TASKS: usize = 3000;

/// Thousands of calls through `bulkhead`, a third cancelled: the peak never exceeds the limit
/// and every slot is free at the end.
async fn hammer(bulkhead: &'static Bulkhead, seed: u64) {
    let occupancy: &'static Occupancy = Box::leak(Box::default());
    let tally: &'static Tally = Box::leak(Box::default());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut handles = Vec::with_capacity(TASKS);
    let mut aborted = Vec::new();
    for i in 0..TASKS {
        let yields = rng.random_range(0..4);
        let call = async move {
            bulkhead
                .call(|| async move {
                    let _inside = occupancy.enter();
                    for _ in 0..yields {
                        yield_now().await;
                    }
                    Ok::<_, Error>(())
                })
                .await
        };
        // A third cancelled: half dropped at a random poll, half aborted from outside.
        let cancel = i % 3 == 0;
        let polls = if cancel && i % 2 == 0 {
            rng.random_range(0..5)
        } else {
            u32::MAX
        };
        let handle = tokio::spawn(async move {
            match cancel_after(polls, call).await {
                Some(Ok(())) => tally.ok.fetch_add(1, Ordering::SeqCst),
                Some(Err(Error::Rejected(Rejected::BulkheadFull { .. }))) => {
                    tally.rejected.fetch_add(1, Ordering::SeqCst)
                }
                Some(Err(e)) => panic!("unexpected {e:?}"),
                None => tally.cancelled.fetch_add(1, Ordering::SeqCst),
            };
        });
        if cancel && i % 2 == 1 {
            aborted.push(handle.abort_handle());
        } else {
            handles.push(handle);
        }
        if rng.random_ratio(1, 8) {
            // Aborts land at whatever point those tasks reached.
            for task in aborted.drain(..) {
                task.abort();
            }
            yield_now().await;
        }
    }
    for task in aborted {
        task.abort();
    }
    for handle in handles {
        handle.await.expect("no task panicked");
    }
    // Aborted tasks are dropped by the runtime, maybe after their handles are gone: wait until
    // every slot is back (a lost slot never comes back, and the test times out loudly).
    let limit = bulkhead.metrics().limit;
    while bulkhead.metrics().in_flight != 0 || occupancy.inside.load(Ordering::SeqCst) != 0 {
        yield_now().await;
    }
    let peak = occupancy.peak.load(Ordering::SeqCst);
    assert!(peak <= limit, "peak {peak} over the limit {limit}");
    assert!(tally.ok.load(Ordering::SeqCst) > 0, "calls went through");
    // Every slot is usable again: `limit` calls hold one each at once.
    let (release, gate) = watch::channel(false);
    let holders: Vec<_> = (0..limit)
        .map(|_| {
            let mut gate = gate.clone();
            tokio::spawn(async move {
                bulkhead
                    .call(|| async move {
                        gate.wait_for(|open| *open).await.unwrap();
                        Ok::<_, Error>(())
                    })
                    .await
            })
        })
        .collect();
    while bulkhead.metrics().in_flight < limit {
        yield_now().await;
    }
    release.send(true).unwrap();
    for holder in holders {
        holder.await.unwrap().expect("a free slot for each");
    }
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulkhead_that_rejects_at_once_never_exceeds_its_limit_nor_loses_a_slot() {
    let bulkhead = Box::leak(Box::new(
        Bulkhead::builder(8).name("stress-counter").build().unwrap(),
    ));
    for seed in 0..3 {
        hammer(bulkhead, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulkhead_with_a_queue_never_exceeds_its_limit_nor_loses_a_slot() {
    // A wait long enough never to expire: only cancellation leaves the queue early.
    let bulkhead = Box::leak(Box::new(
        Bulkhead::builder(8)
            .name("stress-queue")
            .max_wait(Duration::from_secs(600))
            .build()
            .unwrap(),
    ));
    for seed in 0..3 {
        hammer(bulkhead, seed).await;
    }
}

/// A thousand calls run while the limit changes under them (shrunk below the calls in flight,
/// grown past them): once the calls in flight are under a new limit, they never exceed it
/// again, and at the end every slot is free.
async fn resize_while_running(bulkhead: &'static Bulkhead, resize: impl Fn(usize)) {
    const CALLS: usize = 1000;
    let occupancy: &'static Occupancy = Box::leak(Box::default());
    let mut handles = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        handles.push(tokio::spawn(async move {
            let result = bulkhead
                .call(|| async move {
                    let _inside = occupancy.enter();
                    for _ in 0..i % 5 {
                        yield_now().await;
                    }
                    Ok::<_, Error>(())
                })
                .await;
            assert!(matches!(
                result,
                Ok(()) | Err(Error::Rejected(Rejected::BulkheadFull { .. }))
            ));
        }));
    }
    for limit in [2, 16, 1, 8, 3] {
        resize(limit);
        // Calls admitted under the old limit finish; none is admitted above the new one.
        while bulkhead.metrics().in_flight > limit {
            yield_now().await;
        }
        occupancy
            .peak
            .store(occupancy.inside.load(Ordering::SeqCst), Ordering::SeqCst);
        for _ in 0..200 {
            yield_now().await;
        }
        let peak = occupancy.peak.load(Ordering::SeqCst);
        assert!(peak <= limit, "peak {peak} over the limit in force {limit}");
    }
    for handle in handles {
        handle.await.expect("no task panicked");
    }
    assert_eq!(bulkhead.metrics().in_flight, 0, "a slot was lost");
    assert_eq!(occupancy.inside.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulkhead_resized_while_a_thousand_calls_run_keeps_the_limit_in_force() {
    for max_wait in [Duration::ZERO, Duration::from_secs(600)] {
        let bulkhead = Box::leak(Box::new(
            Bulkhead::builder(8)
                .name("stress-resized")
                .max_wait(max_wait)
                .build()
                .unwrap(),
        ));
        resize_while_running(bulkhead, |limit| {
            let config = Bulkhead::builder(limit)
                .name("stress-resized")
                .max_wait(max_wait)
                .config();
            bulkhead.reconfigure(config.unwrap()).unwrap();
        })
        .await;
    }
}

/// The same through the registry's settings, as a file or an endpoint changes them, while a
/// breaker's `fail_max` and `reset` change under a thousand calls of its own: no failure goes
/// uncounted and the last settings are in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn settings_changed_through_the_registry_under_load_keep_limits_and_counts() {
    use staunch::settings::{BreakerSettings, BulkheadSettings, Settings};
    let bulkhead = Bulkhead::builder(8)
        .name("stress-settings")
        .max_wait(Duration::from_secs(600))
        .build_shared()
        .unwrap();
    let breaker = staunch::CircuitBreaker::builder("stress-settings-breaker")
        .fail_max(1_000_000)
        .build_shared()
        .unwrap();
    let failed: &'static AtomicUsize = Box::leak(Box::default());
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            tokio::spawn(async move {
                yield_now().await;
                let result = breaker
                    .call(|| async move { if i % 2 == 0 { Err(Error::Down) } else { Ok(()) } })
                    .await;
                if result == Err(Error::Down) {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    resize_while_running(bulkhead, |limit| {
        let mut settings = Settings::new();
        settings.insert(
            "stress-settings",
            BulkheadSettings {
                limit: Some(limit),
                ..Default::default()
            },
        );
        settings.insert(
            "stress-settings-breaker",
            BreakerSettings {
                fail_max: Some(u32::try_from(limit).unwrap() * 100_000),
                reset: Some(Duration::from_secs(limit as u64)),
                ..Default::default()
            },
        );
        staunch::registry().change(settings).unwrap();
    })
    .await;
    for call in calls {
        call.await.expect("no task panicked");
    }
    assert_eq!(
        breaker.metrics().failures,
        failed.load(Ordering::SeqCst) as u64
    );
    assert_eq!(breaker.state(), staunch::CircuitState::Closed);
    let config = breaker.config();
    assert_eq!(
        (config.trip(), config.reset()),
        (
            staunch::circuit_breaker::Trip::Consecutive { fail_max: 300_000 },
            Duration::from_secs(3)
        )
    );
    assert_eq!(bulkhead.metrics().limit, 3);
}

/// Hundreds of callers race into a HALF_OPEN breaker whose trials are held open: never more
/// than `half_open` run at once, the others are refused, and the breaker never wedges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_admits_at_most_its_trials_while_hundreds_of_callers_race() {
    const HALF_OPEN: u16 = 3;
    const CALLERS: usize = 300;
    // `reset` of a nanosecond: OPEN has always expired by the next call, with no sleeping.
    let breaker: &'static CircuitBreaker = Box::leak(Box::new(
        CircuitBreaker::builder("stress-half-open")
            .fail_max(1)
            .reset(Duration::from_nanos(1))
            .half_open(HALF_OPEN)
            .build()
            .unwrap(),
    ));
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..30 {
        let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
        assert_eq!(breaker.state(), CircuitState::Open);
        let occupancy: &'static Occupancy = Box::leak(Box::default());
        let tally: &'static Tally = Box::leak(Box::default());
        let (release, gate) = watch::channel(false);
        // Even rounds cancel nobody: exactly `half_open` trials are admitted.
        let cancelling = round % 2 == 1;
        let mut handles = Vec::new();
        for i in 0..CALLERS {
            let mut gate = gate.clone();
            let polls = if cancelling && i % 3 == 0 {
                rng.random_range(0..4)
            } else {
                u32::MAX
            };
            handles.push(tokio::spawn(async move {
                let call = breaker.call(|| async move {
                    let _inside = occupancy.enter();
                    yield_now().await;
                    gate.wait_for(|open| *open).await.unwrap();
                    Ok::<_, Error>(())
                });
                match cancel_after(polls, call).await {
                    Some(Ok(())) => tally.ok.fetch_add(1, Ordering::SeqCst),
                    Some(Err(Error::Rejected(Rejected::CircuitOpen { .. }))) => {
                        tally.rejected.fetch_add(1, Ordering::SeqCst)
                    }
                    Some(Err(e)) => panic!("unexpected {e:?}"),
                    None => tally.cancelled.fetch_add(1, Ordering::SeqCst),
                };
            }));
        }
        // Every caller has been refused, cancelled, or is held inside its trial.
        while tally.rejected.load(Ordering::SeqCst)
            + tally.cancelled.load(Ordering::SeqCst)
            + occupancy.inside.load(Ordering::SeqCst)
            < CALLERS
        {
            yield_now().await;
        }
        let peak = occupancy.peak.load(Ordering::SeqCst);
        assert!(
            peak <= usize::from(HALF_OPEN),
            "round {round}: {peak} trials at once"
        );
        if !cancelling {
            assert_eq!(
                occupancy.entered.load(Ordering::SeqCst),
                usize::from(HALF_OPEN)
            );
            assert_eq!(
                tally.rejected.load(Ordering::SeqCst),
                CALLERS - usize::from(HALF_OPEN)
            );
        }
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        release.send(true).unwrap();
        for handle in handles {
            handle.await.unwrap();
        }
        // Never wedged: trials cancelled or not, successful calls close it again.
        for _ in 0..HALF_OPEN {
            if breaker.state() == CircuitState::Closed {
                break;
            }
            breaker
                .call(|| async { Ok::<_, Error>(()) })
                .await
                .expect("a free trial slot");
        }
        assert_eq!(breaker.state(), CircuitState::Closed, "round {round}");
    }
}

// ---------------------------------------------------------------------------------------------
// Named instances: one per name, however many call sites race to create it.
// ---------------------------------------------------------------------------------------------

#[staunch::circuit_breaker(name = "stress-named", fail_max = 1000000)]
async fn site_a(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[staunch::circuit_breaker(name = "stress-named", fail_max = 1000000)]
async fn site_b(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[staunch::circuit_breaker(name = "stress-named", fail_max = 1000000)]
async fn site_c(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[staunch::bulkhead(name = "stress-named", limit = 4)]
#[staunch::circuit_breaker(name = "stress-named", fail_max = 1000000)]
async fn site_d(occupancy: &Occupancy, fail: bool) -> Result<(), Error> {
    let _inside = occupancy.enter();
    yield_now().await;
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[staunch::bulkhead(name = "stress-named", limit = 4)]
async fn site_e(occupancy: &Occupancy) -> Result<(), Error> {
    let _inside = occupancy.enter();
    yield_now().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn named_instances_created_concurrently_from_many_call_sites_are_one_instance() {
    const TASKS: usize = 400;
    let occupancy: &'static Occupancy = Box::leak(Box::default());
    let failed = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let failed = failed.clone();
            tokio::spawn(async move {
                let fail = i % 2 == 0;
                let result = match i % 5 {
                    0 => site_a(fail).await,
                    1 => site_b(fail).await,
                    2 => site_c(fail).await,
                    3 => site_d(occupancy, fail).await,
                    _ => site_e(occupancy).await,
                };
                if matches!(result, Err(Error::Down)) {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    let breaker = staunch::breaker("stress-named").expect("registered");
    let bulkhead = staunch::bulkhead("stress-named").expect("registered");
    // Every failure of every site landed in the one breaker.
    assert_eq!(
        breaker.metrics().failures,
        failed.load(Ordering::SeqCst) as u64
    );
    assert!(occupancy.peak.load(Ordering::SeqCst) <= 4);
    assert_eq!(bulkhead.metrics().in_flight, 0);

    // The builders racing on fresh names from many threads get one instance each.
    let barrier = std::sync::Barrier::new(16);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let breaker = CircuitBreaker::builder("stress-race")
                        .build_shared()
                        .unwrap();
                    let bulkhead = Bulkhead::builder(2)
                        .name("stress-race")
                        .build_shared()
                        .unwrap();
                    let budget = RetryBudget::builder("stress-race").build_shared().unwrap();
                    (
                        std::ptr::from_ref(breaker) as usize,
                        std::ptr::from_ref(bulkhead) as usize,
                        std::ptr::from_ref(budget) as usize,
                    )
                })
            })
            .collect();
        let found: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let first = found[0];
        assert!(found.iter().all(|f| *f == first), "{found:?}");
        assert_eq!(
            std::ptr::from_ref(staunch::breaker("stress-race").unwrap()) as usize,
            first.0
        );
    });
}

/// Rounds of eight tasks missing one new key at once on four threads, all but the first
/// cancelled at random polls a third of the time: in every round exactly one call completes,
/// whatever the interleaving (a caller leading after another answered takes that answer, and a
/// waiter whose leader was dropped leads in its place), and the key is cached after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_of_a_key_make_one_call_on_many_threads() {
    let cache = Arc::new(
        staunch::Cache::builder(Duration::from_secs(3600))
            .capacity(100_000)
            .build()
            .unwrap(),
    );
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..300_u32 {
        let completed = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..8 {
            let (cache, completed) = (Arc::clone(&cache), Arc::clone(&completed));
            let cancel = task > 0 && rng.random_range(0..3) == 0;
            let polls = rng.random_range(0..4);
            tasks.spawn(async move {
                let call = cache.call(round, || async move {
                    yield_now().await;
                    completed.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Error>(round)
                });
                if cancel {
                    cancel_after(polls, call)
                        .await
                        .map(|answer| answer.map(|a| *a))
                } else {
                    Some(call.await.map(|a| *a))
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Some(answer) = done.unwrap() {
                assert_eq!(answer, Ok(round));
            }
        }
        assert_eq!(completed.load(Ordering::SeqCst), 1, "round {round}");
        let again = cache
            .call(round, || async { Ok::<_, Error>(u32::MAX) })
            .await
            .unwrap();
        assert_eq!(*again, round, "round {round}: cached");
    }
}
