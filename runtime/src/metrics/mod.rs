//! Prometheus-style metrics of every policy, through the [`metrics`](https://docs.rs/metrics)
//! 0.24 facade (feature `metrics`): install any recorder (metrics-exporter-prometheus, an
//! OpenTelemetry bridge) and the series below appear.
//!
//! | series | kind | labels |
//! |---|---|---|
//! | `staunch_calls_total` | counter | `name`, `layer` (`circuit_breaker`, `bulkhead`, `rate_limit`), `outcome` (`success`, `failure`, `rejected`, `ignored`) |
//! | `staunch_circuit_state` | gauge | `name`, `state`: one series per state (`closed`, `open`, `half_open`, `forced_open`), 1 for the current one |
//! | `staunch_circuit_transitions_total` | counter | `name`, `from`, `to` |
//! | `staunch_circuit_failure_rate` | gauge, percent | `name`: -1 until the breaker judges a rate (`min_calls`; always under `fail_max`) |
//! | `staunch_retry_calls_total` | counter | `name`, `outcome` (`success_without_retry`, `success_with_retry`, `failure_without_retry`, `failure_with_retry`) |
//! | `staunch_retry_attempts_total` | counter | `name`: every attempt, first ones included |
//! | `staunch_bulkhead_available` | gauge | `name`: free slots |
//! | `staunch_bulkhead_max` | gauge | `name`: its limit |
//! | `staunch_rate_limit_available` | gauge | `name`: calls a rate limiter could let in at once |
//! | `staunch_hedged_attempts_total` | counter | `name`: attempts a hedge started beside a slow one |
//! | `staunch_cache_requests_total` | counter | `name`, `result` (`hit`, `miss`, `stale`): calls of a cache, by how they were answered |
//! | `staunch_cache_entries` | gauge | `name`: answers a cache holds |
//! | `staunch_call_duration_seconds` | histogram, seconds | `name`, `layer`, `outcome`: calls of breakers that track slow calls |
//! | `staunch_redis_connected` | gauge | `name` (the key namespace): 1 while breakers share through Redis, 0 while each decides alone (feature `redis`) |
//! | `staunch_redis_records_total` | counter | `name`, `result` (`sent`, `dropped`): what breakers told Redis, and what was shed (feature `redis`) |
//!
//! A breaker counts its calls (`success` for a call it let through that succeeded), a bulkhead
//! and a rate limiter the calls they let in (`success`) and turned away (`rejected`). What happens on every
//! healthy call (a breaker's or bulkhead's `success`, a retry's `success_without_retry` and its
//! attempt, a cache's `hit`) is counted per thread, with no write another thread shares, and reaches the facade
//! when [`publish`] runs; everything else (failures, rejections, transitions, retried calls)
//! reaches it when it happens. Gauges are set by `publish` (states also at each transition).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//!
//! // A `/metrics` handler publishes, then renders its recorder:
//! staunch::metrics::publish();
//! // or a task keeps the facade current for a recorder that pushes:
//! let publisher = staunch::metrics::spawn_publisher(Duration::from_secs(10));
//! # publisher.abort();
//! # }
//! ```

mod keys;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use metrics::{Level, Metadata, Unit};

pub(crate) use self::keys::Keys;
use self::keys::STATES;
use crate::observe::{CallOutcome, Hub, InstanceKind, RetryOutcome};
use crate::{CircuitBreaker, CircuitState, Detail};

/// `staunch_calls_total`.
pub(crate) const CALLS: &str = "staunch_calls_total";
/// `staunch_circuit_state`.
pub(crate) const CIRCUIT_STATE: &str = "staunch_circuit_state";
/// `staunch_circuit_transitions_total`.
pub(crate) const CIRCUIT_TRANSITIONS: &str = "staunch_circuit_transitions_total";
/// `staunch_circuit_failure_rate`.
pub(crate) const CIRCUIT_FAILURE_RATE: &str = "staunch_circuit_failure_rate";
/// `staunch_retry_calls_total`.
pub(crate) const RETRY_CALLS: &str = "staunch_retry_calls_total";
/// `staunch_retry_attempts_total`.
pub(crate) const RETRY_ATTEMPTS: &str = "staunch_retry_attempts_total";
/// `staunch_bulkhead_available`.
pub(crate) const BULKHEAD_AVAILABLE: &str = "staunch_bulkhead_available";
/// `staunch_bulkhead_max`.
pub(crate) const BULKHEAD_MAX: &str = "staunch_bulkhead_max";
/// `staunch_rate_limit_available`.
pub(crate) const RATE_LIMIT_AVAILABLE: &str = "staunch_rate_limit_available";
/// `staunch_hedged_attempts_total`.
pub(crate) const HEDGED_ATTEMPTS: &str = "staunch_hedged_attempts_total";
/// `staunch_cache_requests_total`.
pub(crate) const CACHE_REQUESTS: &str = "staunch_cache_requests_total";
/// `staunch_cache_entries`.
pub(crate) const CACHE_ENTRIES: &str = "staunch_cache_entries";
/// `staunch_call_duration_seconds`.
pub(crate) const CALL_DURATION: &str = "staunch_call_duration_seconds";
/// `staunch_redis_connected`.
pub(crate) const REDIS_CONNECTED: &str = "staunch_redis_connected";
/// `staunch_redis_records_total`.
pub(crate) const REDIS_RECORDS: &str = "staunch_redis_records_total";

/// Every series staunch emits, for tools that check a dashboard or an alert against them.
///
/// ```
/// assert!(staunch::metrics::NAMES.contains(&"staunch_circuit_state"));
/// ```
pub const NAMES: [&str; 15] = [
    CALLS,
    CIRCUIT_STATE,
    CIRCUIT_TRANSITIONS,
    CIRCUIT_FAILURE_RATE,
    RETRY_CALLS,
    RETRY_ATTEMPTS,
    BULKHEAD_AVAILABLE,
    BULKHEAD_MAX,
    RATE_LIMIT_AVAILABLE,
    HEDGED_ATTEMPTS,
    CACHE_REQUESTS,
    CACHE_ENTRIES,
    CALL_DURATION,
    REDIS_CONNECTED,
    REDIS_RECORDS,
];

static METADATA: Metadata<'static> = Metadata::new("staunch", Level::INFO, Some(module_path!()));

/// Hands the facade what was counted per thread since the last call, and sets the gauges of
/// every instance of the process-wide registry; describes every series first.
///
/// A `/metrics` handler calls it before rendering; [`spawn_publisher`] calls it periodically.
/// Counts made on other threads are read as those threads last wrote them.
///
/// ```
/// use staunch::CircuitBreaker;
///
/// let breaker = CircuitBreaker::builder("docs-published").build_shared().unwrap();
/// breaker.force_open();
/// staunch::metrics::publish(); // `staunch_circuit_state{name="docs-published",state="forced_open"}` is 1
/// ```
pub fn publish() {
    describe();
    crate::observe::publish_tallies();
    for instance in crate::registry().snapshot().instances {
        match instance.detail {
            Detail::CircuitBreaker(metrics) => {
                let keys = Keys::of(instance.name);
                // Found before the lock (the registry's lock is never taken under it), read
                // again under it: a transition since the snapshot set the gauges already.
                let breaker = crate::registry().breaker(instance.name);
                let _states = states_lock();
                set_states(keys, breaker.map_or(metrics.state, CircuitBreaker::state));
                keys.failure_rate.set(metrics.failure_rate.unwrap_or(-1.0));
            }
            Detail::Bulkhead(metrics) => {
                let keys = Keys::of(instance.name);
                #[allow(clippy::cast_precision_loss)] // limits are below 2^29
                {
                    let free = metrics.limit.saturating_sub(metrics.in_flight);
                    keys.bulkhead_available.set(free as f64);
                    keys.bulkhead_max.set(metrics.limit as f64);
                }
            }
            Detail::RateLimit(metrics) => {
                #[allow(clippy::cast_precision_loss)] // bursts are below 2^32
                Keys::of(instance.name)
                    .rate_limit_available
                    .set(metrics.available as f64);
            }
            Detail::Cache(metrics) => {
                #[allow(clippy::cast_precision_loss)] // capacities are below 2^32
                Keys::of(instance.name)
                    .cache_entries
                    .set(metrics.entries as f64);
            }
            Detail::Retry(_) | Detail::RetryBudget(_) | Detail::Hedge(_) => {}
        }
    }
    #[cfg(feature = "redis")]
    crate::integrations::redis::publish_metrics();
}

/// Runs [`publish`] every `period` on the current tokio runtime, for recorders that push
/// (or render without calling `publish`). Abort the handle to stop it.
///
/// # Panics
/// Outside a tokio runtime, or if `period` is zero (as [`tokio::time::interval`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let publisher = staunch::metrics::spawn_publisher(std::time::Duration::from_secs(15));
/// publisher.abort();
/// # }
/// ```
pub fn spawn_publisher(period: Duration) -> tokio::task::JoinHandle<()> {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::spawn(async move {
        loop {
            ticks.tick().await;
            publish();
        }
    })
}

/// Describes every series to the recorder (with its unit).
fn describe() {
    metrics::with_recorder(|recorder| {
        let counters = [
            (
                CALLS,
                "Calls through a circuit breaker, a bulkhead or a rate limiter, by what it did with them",
            ),
            (CIRCUIT_TRANSITIONS, "Changes of state of a circuit breaker"),
            (
                RETRY_CALLS,
                "Calls of a retry policy, by whether they succeeded and were retried",
            ),
            (
                RETRY_ATTEMPTS,
                "Attempts of a retry policy's calls, first attempts included",
            ),
            (
                HEDGED_ATTEMPTS,
                "Attempts a hedge started beside a slow one",
            ),
            (
                CACHE_REQUESTS,
                "Calls of a cache, by how they were answered: from the cache, by a call, stale",
            ),
            (
                REDIS_RECORDS,
                "What breakers shared through Redis told it (sent), and what was shed (dropped)",
            ),
        ];
        for (name, help) in counters {
            recorder.describe_counter(name.into(), Some(Unit::Count), help.into());
        }
        let gauges = [
            (
                CIRCUIT_STATE,
                None,
                "1 for the state a circuit breaker is in, 0 for the others",
            ),
            (
                CIRCUIT_FAILURE_RATE,
                Some(Unit::Percent),
                "Failure percentage a circuit breaker judges (-1 until it judges one)",
            ),
            (
                BULKHEAD_AVAILABLE,
                Some(Unit::Count),
                "Free slots of a bulkhead",
            ),
            (
                BULKHEAD_MAX,
                Some(Unit::Count),
                "Slots of a bulkhead: its limit",
            ),
            (
                RATE_LIMIT_AVAILABLE,
                Some(Unit::Count),
                "Calls a rate limiter could let in at once",
            ),
            (CACHE_ENTRIES, Some(Unit::Count), "Answers a cache holds"),
            (
                REDIS_CONNECTED,
                None,
                "1 while breakers share their state through Redis, 0 while each decides alone",
            ),
        ];
        for (name, unit, help) in gauges {
            recorder.describe_gauge(name.into(), unit, help.into());
        }
        recorder.describe_histogram(
            CALL_DURATION.into(),
            Some(Unit::Seconds),
            "Duration of the calls of circuit breakers that track slow calls".into(),
        );
    });
}

/// One gauge per state: 1 for `current`, 0 for the others.
fn set_states(keys: &Keys, current: CircuitState) {
    for state in STATES {
        keys.state(state)
            .set(if state == current { 1.0 } else { 0.0 });
    }
}

// The sinks `observe` calls, each with the keys its hub keeps.

/// A call a breaker or a bulkhead (`layer`) finished, turned away or ignored. Out of line: a
/// rejection's path stays short.
#[inline(never)]
pub(crate) fn call(hub: &Hub, name: &'static str, layer: InstanceKind, outcome: CallOutcome) {
    hub.keys(name).call(layer, outcome).increment(1);
}

/// A timed call of a breaker.
pub(crate) fn call_duration(keys: &Keys, outcome: CallOutcome, duration: Duration) {
    keys.duration(outcome).record(duration.as_secs_f64());
}

/// Held while the state gauges are set, so that `publish` never puts back a state a transition
/// just left.
fn states_lock() -> MutexGuard<'static, ()> {
    static STATES: Mutex<()> = Mutex::new(());
    STATES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A breaker changed state.
pub(crate) fn transition(keys: &Keys, from: CircuitState, to: CircuitState) {
    keys.transition(from, to).increment(1);
    let _states = states_lock();
    set_states(keys, to);
}

/// A hedge started another attempt.
pub(crate) fn hedged(keys: &Keys) {
    keys.hedged_attempts.increment(1);
}

/// A cache made a call: no fresh answer was cached.
pub(crate) fn cache_missed(keys: &Keys) {
    keys.cache_requests[1].increment(1);
}

/// A cache served a stale answer.
pub(crate) fn served_stale(keys: &Keys) {
    keys.cache_requests[2].increment(1);
}

/// A failed attempt of a retry policy is retried.
pub(crate) fn retry_attempt(keys: &Keys) {
    keys.retry_attempts.increment(1);
}

/// A call of a retry policy ended with `outcome`, and with its last attempt.
pub(crate) fn retry_ended(keys: &Keys, outcome: RetryOutcome) {
    keys.retry(outcome).increment(1);
    keys.retry_attempts.increment(1);
}

// What the tallies hand over at `publish`.

/// Successes of a breaker.
pub(crate) fn breaker_successes(name: &'static str, increase: u64) {
    let keys = Keys::of(name);
    keys.call(InstanceKind::CircuitBreaker, CallOutcome::Success)
        .increment(increase);
}

/// Calls a bulkhead let in.
pub(crate) fn bulkhead_admissions(name: &'static str, increase: u64) {
    let keys = Keys::of(name);
    keys.call(InstanceKind::Bulkhead, CallOutcome::Success)
        .increment(increase);
}

/// Calls a rate limiter let in.
pub(crate) fn rate_limit_admissions(name: &'static str, increase: u64) {
    let keys = Keys::of(name);
    keys.call(InstanceKind::RateLimit, CallOutcome::Success)
        .increment(increase);
}

/// Answers a cache gave without a call of their own.
pub(crate) fn cache_hits(name: &'static str, increase: u64) {
    Keys::of(name).cache_requests[0].increment(increase);
}

/// Calls of a retry policy that succeeded at their first attempt.
pub(crate) fn first_successes(name: &'static str, increase: u64) {
    let keys = Keys::of(name);
    keys.retry(RetryOutcome::SuccessWithoutRetry)
        .increment(increase);
    keys.retry_attempts.increment(increase);
}
