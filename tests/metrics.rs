//! The `metrics` feature through metrics-util's debugging recorder: every series of SPEC §6
//! with its labels, unit and exact value after scripted calls on paused time.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use staunch::{Bulkhead, CircuitBreaker, CircuitState, Rejected, Retry};

mod support;
use support::{Error, ms, poll_once, secs};

/// What the recorder received so far. Its snapshots drain it (counters swap to zero), and the
/// tests of this file run at once: each reads through [`recorded`], which adds every snapshot
/// up under one lock.
struct Recorded {
    counters: BTreeMap<Series, u64>,
    gauges: BTreeMap<Series, f64>,
    histograms: BTreeMap<Series, Vec<f64>>,
    /// Unit and description of each name, by kind.
    described: BTreeMap<(String, &'static str), Described>,
}

/// A series' unit and description.
type Described = (Option<String>, Option<String>);

type Series = (String, Vec<(String, String)>);

/// Installs the recorder, before a test's first call: what happens earlier reaches no
/// recorder (the facade drops it).
fn install() {
    let _ = snapshotter();
}

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(KeepingGauges(recorder))
            .expect("the only recorder of this test binary");
        snapshotter
    })
}

/// Publishes, then adds what the recorder holds to what it held before.
fn recorded() -> MutexGuard<'static, Recorded> {
    read(true)
}

/// Adds what the recorder holds to what it held before, after publishing if `publish`.
fn read(publish: bool) -> MutexGuard<'static, Recorded> {
    static RECORDED: Mutex<Recorded> = Mutex::new(Recorded {
        counters: BTreeMap::new(),
        gauges: BTreeMap::new(),
        histograms: BTreeMap::new(),
        described: BTreeMap::new(),
    });
    let snapshotter = snapshotter();
    let mut recorded = RECORDED.lock().unwrap_or_else(PoisonError::into_inner);
    if publish {
        staunch::metrics::publish();
    }
    for (key, unit, description, value) in snapshotter.snapshot().into_vec() {
        let kind = match key.kind() {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let key = key.key();
        let series = series_of(key);
        recorded.described.insert(
            (key.name().to_owned(), kind),
            (
                unit.map(|u| u.as_str().to_owned()),
                description.map(|d| d.to_string()),
            ),
        );
        match value {
            DebugValue::Counter(n) => *recorded.counters.entry(series).or_default() += n,
            // Its snapshots swap gauges to zero too: their values are kept as they are set.
            DebugValue::Gauge(_) => {}
            DebugValue::Histogram(values) => recorded
                .histograms
                .entry(series)
                .or_default()
                .extend(values.into_iter().map(|v| v.into_inner())),
        }
    }
    let gauges = GAUGES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    recorded.gauges = gauges;
    recorded
}

/// The last value of every gauge, as set.
static GAUGES: Mutex<BTreeMap<Series, f64>> = Mutex::new(BTreeMap::new());

fn series_of(key: &metrics::Key) -> Series {
    let mut labels: Vec<(String, String)> = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    (key.name().to_owned(), labels)
}

/// The debugging recorder, with every gauge's value also kept in [`GAUGES`].
struct KeepingGauges(DebuggingRecorder);

/// A gauge of [`KeepingGauges`].
struct Kept(Series);

impl metrics::GaugeFn for Kept {
    fn increment(&self, value: f64) {
        *GAUGES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.0.clone())
            .or_default() += value;
    }

    fn decrement(&self, value: f64) {
        self.increment(-value);
    }

    fn set(&self, value: f64) {
        GAUGES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.0.clone(), value);
    }
}

impl metrics::Recorder for KeepingGauges {
    fn describe_counter(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_counter(key, unit, description);
    }

    fn describe_gauge(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_gauge(key, unit, description);
    }

    fn describe_histogram(
        &self,
        key: metrics::KeyName,
        unit: Option<metrics::Unit>,
        description: metrics::SharedString,
    ) {
        self.0.describe_histogram(key, unit, description);
    }

    fn register_counter(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Counter {
        self.0.register_counter(key, metadata)
    }

    fn register_gauge(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Gauge {
        // Registered below too: the snapshots list it, with its unit and description.
        let _ = self.0.register_gauge(key, metadata);
        metrics::Gauge::from_arc(std::sync::Arc::new(Kept(series_of(key))))
    }

    fn register_histogram(
        &self,
        key: &metrics::Key,
        metadata: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.0.register_histogram(key, metadata)
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

impl Recorded {
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .get(&series(name, labels))
            .copied()
            .unwrap_or(0)
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.gauges.get(&series(name, labels)).copied()
    }

    fn calls(&self, name: &str, layer: &str, outcome: &str) -> u64 {
        self.counter(
            "staunch_calls_total",
            &[("name", name), ("layer", layer), ("outcome", outcome)],
        )
    }

    fn states(&self, name: &str) -> Vec<(&'static str, f64)> {
        ["closed", "open", "half_open", "forced_open"]
            .into_iter()
            .map(|state| {
                let value = self
                    .gauge("staunch_circuit_state", &[("name", name), ("state", state)])
                    .unwrap_or_else(|| panic!("no state gauge {state} for {name}"));
                (state, value)
            })
            .collect()
    }

    fn transitions(&self, name: &str, from: &str, to: &str) -> u64 {
        self.counter(
            "staunch_circuit_transitions_total",
            &[("name", name), ("from", from), ("to", to)],
        )
    }

    /// Every series of instance `name`, as `name{labels}` strings.
    fn of(&self, name: &str) -> Vec<String> {
        let named = |(series, labels): &&Series| {
            labels.iter().any(|(k, v)| k == "name" && v == name) && !series.is_empty()
        };
        let show = |(series, labels): &Series| {
            let labels: Vec<String> = labels
                .iter()
                .filter(|(k, _)| k != "name")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{series}{{{}}}", labels.join(","))
        };
        let mut all: Vec<String> = self
            .counters
            .keys()
            .chain(self.gauges.keys())
            .chain(self.histograms.keys())
            .filter(named)
            .map(show)
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

fn fail() -> Result<(), Error> {
    Err(Error::Down)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_counts_its_calls_states_and_transitions() {
    install();
    let name = "metrics-breaker";
    let breaker = CircuitBreaker::builder(name)
        .fail_max(2)
        .reset(secs(1))
        .build_shared()
        .unwrap();
    for _ in 0..3 {
        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    }
    {
        let recorded = recorded();
        assert_eq!(recorded.calls(name, "circuit_breaker", "success"), 3);
        assert_eq!(
            recorded.states(name),
            [
                ("closed", 1.0),
                ("open", 0.0),
                ("half_open", 0.0),
                ("forced_open", 0.0)
            ]
        );
        assert_eq!(
            recorded.gauge("staunch_circuit_failure_rate", &[("name", name)]),
            Some(-1.0),
            "no rate is judged under `fail_max`"
        );
    }
    for _ in 0..2 {
        let _ = breaker.call(|| async { fail() }).await;
    }
    for _ in 0..4 {
        let refused = breaker.call(|| async { Ok::<_, Error>(()) }).await;
        assert!(matches!(
            refused,
            Err(Error::Rejected(Rejected::CircuitOpen { .. }))
        ));
    }
    {
        // Failures, rejections and transitions reach the recorder as they happen: read
        // without publishing.
        let recorded = read(false);
        assert_eq!(recorded.calls(name, "circuit_breaker", "failure"), 2);
        assert_eq!(recorded.calls(name, "circuit_breaker", "rejected"), 4);
        assert_eq!(recorded.transitions(name, "closed", "open"), 1);
        assert_eq!(recorded.states(name)[1], ("open", 1.0));
    }
    tokio::time::advance(secs(1)).await;
    breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    breaker.force_open();
    let recorded = recorded();
    assert_eq!(recorded.calls(name, "circuit_breaker", "success"), 4);
    assert_eq!(recorded.transitions(name, "open", "half_open"), 1);
    assert_eq!(recorded.transitions(name, "half_open", "closed"), 1);
    assert_eq!(recorded.transitions(name, "closed", "forced_open"), 1);
    assert_eq!(
        recorded.states(name),
        [
            ("closed", 0.0),
            ("open", 0.0),
            ("half_open", 0.0),
            ("forced_open", 1.0)
        ]
    );
    // The runtime's own counters say the same.
    let own = breaker.metrics();
    assert_eq!(
        recorded.calls(name, "circuit_breaker", "failure"),
        own.failures
    );
    assert_eq!(
        recorded.calls(name, "circuit_breaker", "rejected"),
        own.rejected_total
    );
    let transitions: u64 = [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
        ("closed", "forced_open"),
    ]
    .iter()
    .map(|(from, to)| recorded.transitions(name, from, to))
    .sum();
    assert_eq!(transitions, own.transitions);
}

#[tokio::test(start_paused = true)]
async fn an_observing_breaker_counts_the_calls_it_lets_through_and_a_disabled_one_none() {
    install();
    for (name, mode, counted) in [
        (
            "metrics-observing",
            staunch::circuit_breaker::Mode::Observe,
            true,
        ),
        (
            "metrics-disabled",
            staunch::circuit_breaker::Mode::Disabled,
            false,
        ),
    ] {
        let breaker = CircuitBreaker::builder(name)
            .fail_max(1)
            .mode(mode)
            .build_shared()
            .unwrap();
        let _ = breaker.call(|| async { fail() }).await;
        // Open when observing: let through where enforcing would refuse.
        for _ in 0..3 {
            breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
        }
        let _ = breaker.call(|| async { fail() }).await;
        let recorded = read(true);
        let (failures, successes) = if counted { (2, 3) } else { (0, 0) };
        assert_eq!(
            recorded.calls(name, "circuit_breaker", "failure"),
            failures,
            "{mode:?}"
        );
        assert_eq!(
            recorded.calls(name, "circuit_breaker", "success"),
            successes,
            "{mode:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_window_breaker_publishes_its_failure_rate_and_times_its_calls() {
    install();
    let name = "metrics-window";
    let breaker = CircuitBreaker::builder(name)
        .window(10)
        .failure_rate(50)
        .min_calls(4)
        .slow_call(ms(100))
        .build_shared()
        .unwrap();
    let slow_success = || async {
        tokio::time::sleep(ms(250)).await;
        Ok::<_, Error>(())
    };
    breaker.call(slow_success).await.unwrap();
    assert_eq!(
        recorded().gauge("staunch_circuit_failure_rate", &[("name", name)]),
        Some(-1.0),
        "not judged before `min_calls`"
    );
    for _ in 0..2 {
        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    }
    let _ = breaker.call(|| async { fail() }).await;
    let recorded = recorded();
    assert_eq!(
        recorded.gauge("staunch_circuit_failure_rate", &[("name", name)]),
        Some(25.0)
    );
    let durations = |outcome| {
        recorded
            .histograms
            .get(&series(
                "staunch_call_duration_seconds",
                &[
                    ("name", name),
                    ("layer", "circuit_breaker"),
                    ("outcome", outcome),
                ],
            ))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(durations("success"), [0.25, 0.0, 0.0]);
    assert_eq!(durations("failure"), [0.0]);
    assert_eq!(recorded.calls(name, "circuit_breaker", "success"), 3);
    assert_eq!(recorded.calls(name, "circuit_breaker", "failure"), 1);
}

#[tokio::test(start_paused = true)]
async fn an_untimed_breaker_records_no_durations() {
    install();
    let name = "metrics-untimed";
    let breaker = CircuitBreaker::builder(name)
        .fail_max(3)
        .build_shared()
        .unwrap();
    breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    let recorded = recorded();
    assert_eq!(
        recorded.of(name),
        [
            "staunch_calls_total{layer=circuit_breaker,outcome=success}",
            "staunch_circuit_failure_rate{}",
            "staunch_circuit_state{state=closed}",
            "staunch_circuit_state{state=forced_open}",
            "staunch_circuit_state{state=half_open}",
            "staunch_circuit_state{state=open}",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_counts_what_it_let_in_and_turned_away() {
    install();
    let name = "metrics-bulkhead";
    let bulkhead = Bulkhead::builder(2).name(name).build_shared().unwrap();
    let mut held = Box::pin(bulkhead.call(|| async {
        tokio::time::sleep(secs(1)).await;
        Ok::<_, Error>(())
    }));
    assert!(poll_once(&mut held).await.is_pending());
    {
        let recorded = recorded();
        assert_eq!(
            recorded.gauge("staunch_bulkhead_available", &[("name", name)]),
            Some(1.0)
        );
        assert_eq!(
            recorded.gauge("staunch_bulkhead_max", &[("name", name)]),
            Some(2.0)
        );
    }
    let mut second = Box::pin(bulkhead.call(|| async {
        tokio::time::sleep(secs(1)).await;
        Ok::<_, Error>(())
    }));
    assert!(poll_once(&mut second).await.is_pending());
    let refused = bulkhead.call(|| async { Ok::<_, Error>(()) }).await;
    assert!(matches!(
        refused,
        Err(Error::Rejected(Rejected::BulkheadFull { .. }))
    ));
    assert_eq!(
        recorded().gauge("staunch_bulkhead_available", &[("name", name)]),
        Some(0.0)
    );
    held.await.unwrap();
    drop(second);
    let recorded = recorded();
    assert_eq!(
        recorded.calls(name, "bulkhead", "success"),
        2,
        "a call cancelled in its slot was let in"
    );
    assert_eq!(recorded.calls(name, "bulkhead", "rejected"), 1);
    assert_eq!(
        recorded.calls(name, "bulkhead", "rejected"),
        bulkhead.metrics().rejected
    );
    assert_eq!(
        recorded.gauge("staunch_bulkhead_available", &[("name", name)]),
        Some(2.0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_counts_what_it_let_in_and_refused() {
    install();
    let name = "metrics-rate-limit";
    let limiter = staunch::RateLimiter::builder(3, secs(60))
        .name(name)
        .build_shared()
        .unwrap();
    for _ in 0..5 {
        let _ = limiter.call(|| async { Ok::<_, Error>(()) }).await;
    }
    {
        let recorded = recorded();
        assert_eq!(recorded.calls(name, "rate_limit", "success"), 3);
        assert_eq!(recorded.calls(name, "rate_limit", "rejected"), 2);
        assert_eq!(
            recorded.gauge("staunch_rate_limit_available", &[("name", name)]),
            Some(0.0)
        );
    }
    tokio::time::advance(secs(40)).await;
    assert_eq!(
        recorded().gauge("staunch_rate_limit_available", &[("name", name)]),
        Some(2.0),
        "two turns back after 40 s at 3/m"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hedge_counts_the_attempts_it_starts_beside_slow_ones() {
    install();
    let name = "metrics-hedge";
    let hedge = staunch::Hedge::builder()
        .name(name)
        .delay(ms(10))
        .max(3)
        .build_shared()
        .unwrap();
    hedge.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    hedge
        .call(|| async {
            tokio::time::sleep(ms(25)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let recorded = recorded();
    assert_eq!(
        recorded.counter("staunch_hedged_attempts_total", &[("name", name)]),
        2
    );
    assert_eq!(hedge.metrics().hedged, 2);
}

#[tokio::test(start_paused = true)]
async fn a_cache_counts_hits_misses_and_stale_answers() {
    install();
    let name = "metrics-cache";
    let cache = staunch::Cache::builder(secs(1))
        .stale(secs(60))
        .name(name)
        .build_shared()
        .unwrap();
    for _ in 0..3 {
        cache.call(1, || async { Ok::<_, Error>(1) }).await.unwrap();
    }
    tokio::time::advance(secs(2)).await;
    let stale = cache.call(1, || async { Err::<i32, _>(Error::Down) }).await;
    assert!(stale.unwrap().freshness().is_stale());
    let recorded = recorded();
    let requests = |result| {
        recorded.counter(
            "staunch_cache_requests_total",
            &[("name", name), ("result", result)],
        )
    };
    assert_eq!(
        (requests("hit"), requests("miss"), requests("stale")),
        (2, 1, 1)
    );
    assert_eq!(
        recorded.gauge("staunch_cache_entries", &[("name", name)]),
        Some(1.0)
    );
    assert_eq!(cache.metrics().hits, Some(2));
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Lookup {
    #[error("upstream busy")]
    Busy,
    #[error("no such item")]
    Missing,
}

fn busy(e: &Lookup) -> bool {
    *e == Lookup::Busy
}

#[tokio::test(start_paused = true)]
async fn a_retry_counts_each_outcome_and_every_attempt() {
    install();
    use std::sync::atomic::{AtomicU32, Ordering};
    static FAILURES_LEFT: AtomicU32 = AtomicU32::new(0);

    #[staunch::retry(max = 3, base = "10ms", when = busy)]
    async fn metrics_lookup(fail_with: Option<Lookup>) -> Result<u32, Lookup> {
        match fail_with {
            Some(e) if FAILURES_LEFT.load(Ordering::SeqCst) > 0 => {
                FAILURES_LEFT.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
            _ => Ok(7),
        }
    }

    let name = "metrics::metrics_lookup";
    for _ in 0..5 {
        assert_eq!(metrics_lookup(None).await, Ok(7));
    }
    FAILURES_LEFT.store(1, Ordering::SeqCst);
    assert_eq!(
        metrics_lookup(Some(Lookup::Busy)).await,
        Ok(7),
        "second attempt"
    );
    FAILURES_LEFT.store(10, Ordering::SeqCst);
    assert_eq!(
        metrics_lookup(Some(Lookup::Busy)).await,
        Err(Lookup::Busy),
        "three attempts"
    );
    assert_eq!(
        metrics_lookup(Some(Lookup::Missing)).await,
        Err(Lookup::Missing),
        "not retried"
    );
    let recorded = recorded();
    let outcome = |outcome| {
        recorded.counter(
            "staunch_retry_calls_total",
            &[("name", name), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome("success_without_retry"), 5);
    assert_eq!(outcome("success_with_retry"), 1);
    assert_eq!(outcome("failure_with_retry"), 1);
    assert_eq!(outcome("failure_without_retry"), 1);
    let attempts = recorded.counter("staunch_retry_attempts_total", &[("name", name)]);
    assert_eq!(attempts, 5 + 2 + 3 + 1);
    let own = staunch::registry().retry(name).unwrap().metrics();
    assert_eq!(attempts - 8, own.retries, "attempts beyond the first");
}

#[tokio::test(start_paused = true)]
async fn a_builder_retry_and_its_exhaustion() {
    install();
    let name = "metrics-built-retry";
    let policy = Retry::exponential()
        .name(name)
        .max_attempts(2)
        .base(ms(1))
        .build()
        .unwrap();
    let _ = policy.call(|| async { fail() }).await;
    policy.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    let recorded = recorded();
    assert_eq!(
        recorded.counter(
            "staunch_retry_calls_total",
            &[("name", name), ("outcome", "failure_with_retry")]
        ),
        1
    );
    assert_eq!(
        recorded.counter("staunch_retry_attempts_total", &[("name", name)]),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_still_retrying_has_its_failed_attempts_counted() {
    install();
    let name = "metrics-retrying";
    let policy = Retry::exponential()
        .name(name)
        .max_attempts(5)
        .base(secs(60))
        .jitter(staunch::Jitter::None)
        .build()
        .unwrap();
    let mut call = std::pin::pin!(policy.call(|| async { fail() }));
    assert!(
        poll_once(&mut call).await.is_pending(),
        "waits a minute to retry"
    );
    let attempts = || recorded().counter("staunch_retry_attempts_total", &[("name", name)]);
    assert_eq!(attempts(), 1, "the failed attempt, before the call ends");
    tokio::time::advance(secs(61)).await;
    assert!(poll_once(&mut call).await.is_pending());
    assert_eq!(attempts(), 2);
    let series = recorded().of(name);
    assert!(
        series
            .iter()
            .all(|s| !s.starts_with("staunch_retry_calls_total")),
        "no outcome before the call ends: {series:?}"
    );
}

/// A service that fails its first call with a transient error and is never ready again.
#[derive(Clone)]
struct Broken(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl tower::Service<()> for Broken {
    type Response = ();
    type Error = Error;
    type Future = std::future::Ready<Result<(), Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Error>> {
        let called = self.0.load(std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(if called { fail() } else { Ok(()) })
    }

    fn call(&mut self, (): ()) -> Self::Future {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        std::future::ready(fail())
    }
}

#[tokio::test(start_paused = true)]
async fn a_tower_retry_whose_service_fails_to_get_ready_counts_its_failure() {
    use tower::{Layer, ServiceExt};
    install();
    let name = "metrics-tower-unready";
    let policy = Retry::exponential()
        .name(name)
        .max_attempts(3)
        .base(ms(10))
        .build()
        .unwrap();
    let service = staunch::tower::RetryLayer::new(policy)
        .classify(|result: &Result<(), Error>| result.is_err())
        .layer(Broken(Default::default()));
    assert!(service.oneshot(()).await.is_err());
    let recorded = recorded();
    assert_eq!(
        recorded.counter(
            "staunch_retry_calls_total",
            &[("name", name), ("outcome", "failure_with_retry")]
        ),
        1
    );
    assert_eq!(
        recorded.counter("staunch_retry_attempts_total", &[("name", name)]),
        2,
        "the failed attempt and the one that could not be sent"
    );
}

#[test]
fn successes_on_many_threads_add_up_exactly() {
    install();
    let name = "metrics-threads";
    let breaker = CircuitBreaker::builder(name).build_shared().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    for _ in 0..2500 {
                        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
                    }
                });
            });
        }
    });
    assert_eq!(
        recorded().calls(name, "circuit_breaker", "success"),
        10_000,
        "threads that ended handed their counts on"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_breaker_publishes_its_last_successes() {
    install();
    let name = "metrics-dropped";
    let breaker = CircuitBreaker::builder(name).build().unwrap();
    for _ in 0..3 {
        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    }
    drop(breaker);
    assert_eq!(recorded().calls(name, "circuit_breaker", "success"), 3);
}

#[tokio::test(start_paused = true)]
async fn the_publisher_task_keeps_the_facade_current() {
    install();
    let name = "metrics-publisher";
    let breaker = CircuitBreaker::builder(name).build_shared().unwrap();
    let publisher = staunch::metrics::spawn_publisher(Duration::from_secs(10));
    breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    // Published by the task (or by another test's publish meanwhile), not by this read.
    assert_eq!(read(false).calls(name, "circuit_breaker", "success"), 1);
    publisher.abort();
}

#[test]
fn every_series_is_described_with_its_unit() {
    install();
    support::unreachable_redis();
    let breaker = CircuitBreaker::builder("metrics-described")
        .window(10)
        .slow_call(ms(1))
        .build_shared()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let retry = Retry::exponential()
        .name("metrics-described")
        .build()
        .unwrap();
    runtime.block_on(async {
        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
        retry.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    });
    breaker.force_open();
    let _ = Bulkhead::builder(1)
        .name("metrics-described")
        .build_shared()
        .unwrap();
    let recorded = recorded();
    let units = [
        ("staunch_calls_total", "counter", Some("count")),
        ("staunch_circuit_state", "gauge", None),
        (
            "staunch_circuit_transitions_total",
            "counter",
            Some("count"),
        ),
        ("staunch_circuit_failure_rate", "gauge", Some("percent")),
        ("staunch_retry_calls_total", "counter", Some("count")),
        ("staunch_retry_attempts_total", "counter", Some("count")),
        ("staunch_bulkhead_available", "gauge", Some("count")),
        ("staunch_bulkhead_max", "gauge", Some("count")),
        ("staunch_rate_limit_available", "gauge", Some("count")),
        ("staunch_hedged_attempts_total", "counter", Some("count")),
        ("staunch_cache_requests_total", "counter", Some("count")),
        ("staunch_cache_entries", "gauge", Some("count")),
        (
            "staunch_call_duration_seconds",
            "histogram",
            Some("seconds"),
        ),
        ("staunch_redis_connected", "gauge", None),
        ("staunch_redis_records_total", "counter", Some("count")),
    ];
    for (name, kind, unit) in units {
        let (found, description) = recorded
            .described
            .get(&(name.to_owned(), kind))
            .unwrap_or_else(|| panic!("{name} was not recorded"));
        assert_eq!(found.as_deref(), unit, "{name}");
        assert!(
            description.as_ref().is_some_and(|d| !d.is_empty()),
            "{name} has a description"
        );
    }
    let checked: Vec<&str> = units.iter().map(|(name, ..)| *name).collect();
    assert_eq!(checked, staunch::metrics::NAMES, "every series, in order");
    assert_eq!(breaker.state(), CircuitState::ForcedOpen);
}
