//! Time per call of each staunch attribute beside its peers, one criterion group per row of
//! BENCHMARKS.md; every group starts with the direct call, the floor.
//!
//! ```sh
//! cargo bench -p staunch-benches --bench layers -- --warm-up-time 1 --measurement-time 3
//! ```

mod cases;

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

use cases::{Error, Visitor, direct};

/// Hammered by two tasks at once.
#[staunch::circuit_breaker(name = "bench-shared", fail_max = 5, reset = "30s")]
async fn breaker_shared(x: u64) -> Result<u64, Error> {
    Ok(x)
}

/// Runs each case as a criterion benchmark on a current-thread runtime.
struct Timed<'a> {
    criterion: &'a mut Criterion,
    rt: &'a Runtime,
}

impl Visitor for Timed<'_> {
    fn case<S, F>(&mut self, group: &str, name: &str, state: S, call: F)
    where
        S: Clone,
        F: AsyncFn(&mut S, u64) -> Option<u64>,
    {
        let (state, call) = (&state, &call);
        let mut group = self.criterion.benchmark_group(group);
        group.bench_function(name, |b| {
            b.to_async(self.rt).iter_custom(|iters| {
                let mut state = state.clone();
                async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(call(&mut state, black_box(1)).await);
                    }
                    start.elapsed()
                }
            });
        });
        group.finish();
    }
}

/// With the `metrics` feature, a Prometheus recorder, as a service that scrapes has; without
/// it, nothing. (Timed runs only: the recorder calibrates its clock for as long as that
/// takes, which would blur instruction counts.)
fn install_recorder() {
    #[cfg(feature = "metrics")]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            // Built, not installed with its upkeep thread: that thread's work would show in
            // the instruction counts.
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            metrics::set_global_recorder(recorder).expect("the benchmark's only recorder");
        });
    }
}

fn layers(criterion: &mut Criterion) {
    install_recorder();
    let rt = cases::current_thread();
    cases::visit(&rt, &mut Timed { criterion, rt: &rt });
}

/// Two tasks on two workers call `call` `iters` times each; returns the wall time.
async fn hammer<F, Fut>(iters: u64, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<u64>> + Send,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (barrier, call) = (barrier.clone(), call.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..iters {
                    black_box(call(black_box(1)).await);
                }
            })
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    for task in tasks {
        task.await.expect("a hammering task");
    }
    start.elapsed()
}

/// ONE breaker, CLOSED, shared by two tasks on a two-worker runtime: criterion's throughput
/// is the aggregate calls per second (each iteration is one call on each task).
fn shared_breaker(criterion: &mut Criterion) {
    install_recorder();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let mut group = criterion.benchmark_group("shared_breaker_two_threads");
    group.throughput(Throughput::Elements(2));

    group.bench_function("staunch", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| hammer(iters, |x| async move { breaker_shared(x).await.ok() }));
    });

    let recloser: recloser::AsyncRecloser = recloser::Recloser::custom()
        .closed_len(5)
        .error_rate(1.0)
        .build()
        .into();
    group.bench_function("recloser", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let recloser = recloser.clone();
            hammer(iters, move |x| {
                let call = recloser.call(direct(x));
                async move { call.await.ok() }
            })
        });
    });

    let failsafe = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            5,
            failsafe::backoff::constant(Duration::from_secs(30)),
        ))
        .build();
    group.bench_function("failsafe", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let failsafe = failsafe.clone();
            hammer(iters, move |x| {
                use failsafe::futures::CircuitBreaker as _;
                let call = failsafe.call(direct(x));
                async move { call.await.ok() }
            })
        });
    });
    group.finish();
}

/// ONE rate limiter, unsaturated (a turn each nanosecond), shared by two tasks on a two-worker
/// runtime, beside governor's on its default (TSC) clock: aggregate admissions per second.
fn shared_rate_limiter(criterion: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let mut group = criterion.benchmark_group("shared_rate_limiter_two_threads");
    group.throughput(Throughput::Elements(2));
    let staunch: &'static staunch::RateLimiter = Box::leak(Box::new(
        staunch::RateLimiter::builder(1_000_000_000, Duration::from_secs(1))
            .build()
            .expect("valid settings"),
    ));
    group.bench_function("staunch", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            hammer(iters, move |x| async move {
                staunch.call(|| direct(x)).await.ok()
            })
        });
    });
    let governor = std::sync::Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(
        std::num::NonZeroU32::MAX,
    )));
    group.bench_function("governor", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let governor = governor.clone();
            hammer(iters, move |x| {
                let admitted = governor.check().is_ok();
                async move { if admitted { direct(x).await.ok() } else { None } }
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = layers, shared_breaker, shared_rate_limiter
}
criterion_main!(benches);
