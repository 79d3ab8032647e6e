//! The keys of one name's series, made once per name and kept for the process: recording a
//! series then neither allocates nor hashes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder};

use super::METADATA;

use crate::CircuitState;
use crate::observe::{CallOutcome, InstanceKind, RetryOutcome};

fn outcome_label(outcome: CallOutcome) -> &'static str {
    match outcome {
        CallOutcome::Success => "success",
        CallOutcome::Failure => "failure",
        CallOutcome::Rejected => "rejected",
        CallOutcome::Ignored => "ignored",
    }
}

fn retry_label(outcome: RetryOutcome) -> &'static str {
    match outcome {
        RetryOutcome::SuccessWithoutRetry => "success_without_retry",
        RetryOutcome::SuccessWithRetry => "success_with_retry",
        RetryOutcome::FailureWithoutRetry => "failure_without_retry",
        RetryOutcome::FailureWithRetry => "failure_with_retry",
    }
}

/// The layers that count calls, as the `layer` label and the attribute spell them.
const LAYERS: [InstanceKind; 3] = [
    InstanceKind::CircuitBreaker,
    InstanceKind::Bulkhead,
    InstanceKind::RateLimit,
];

const OUTCOMES: [CallOutcome; 4] = [
    CallOutcome::Success,
    CallOutcome::Failure,
    CallOutcome::Rejected,
    CallOutcome::Ignored,
];

const RETRY_OUTCOMES: [RetryOutcome; 4] = [
    RetryOutcome::SuccessWithoutRetry,
    RetryOutcome::SuccessWithRetry,
    RetryOutcome::FailureWithoutRetry,
    RetryOutcome::FailureWithRetry,
];

pub(crate) const STATES: [CircuitState; 4] = [
    CircuitState::Closed,
    CircuitState::Open,
    CircuitState::HalfOpen,
    CircuitState::ForcedOpen,
];

/// A state as its label spells it (resilience4j's names).
fn state_label(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
        CircuitState::ForcedOpen => "forced_open",
    }
}

/// One series: its key, hashed once, and the handle of the recorder that last recorded it.
#[derive(Debug)]
pub(crate) struct Series<H> {
    key: Key,
    /// The handle, and the address of the recorder it came from: the exporters' registration
    /// clones the key's labels (an allocation) and looks it up, once per recorder here.
    handle: OnceLock<(usize, H)>,
}

impl<H> Series<H> {
    fn new(key: Key) -> Self {
        Self {
            key,
            handle: OnceLock::new(),
        }
    }

    /// Calls `record` with this series' handle in the current recorder.
    fn with(&self, register: fn(&dyn Recorder, &Key) -> H, record: impl FnOnce(&H)) {
        metrics::with_recorder(|recorder| {
            let address = std::ptr::from_ref(recorder).cast::<()>().addr();
            match self.handle.get() {
                Some((cached, handle)) if *cached == address => record(handle),
                _ => {
                    let handle = register(recorder, &self.key);
                    record(&handle);
                    // A recorder without state (the facade's no-op one, before a recorder is
                    // installed) has no address of its own: its handles are not kept.
                    if std::mem::size_of_val(recorder) != 0 {
                        let _ = self.handle.set((address, handle));
                    }
                }
            }
        });
    }
}

impl Series<Counter> {
    pub(crate) fn increment(&self, by: u64) {
        self.with(
            |recorder, key| recorder.register_counter(key, &METADATA),
            |counter| counter.increment(by),
        );
    }
}

impl Series<Gauge> {
    pub(crate) fn set(&self, value: f64) {
        self.with(
            |recorder, key| recorder.register_gauge(key, &METADATA),
            |gauge| gauge.set(value),
        );
    }
}

impl Series<Histogram> {
    pub(crate) fn record(&self, value: f64) {
        self.with(
            |recorder, key| recorder.register_histogram(key, &METADATA),
            |histogram| histogram.record(value),
        );
    }
}

/// Every series of the instances named `name`, made once per name.
#[derive(Debug)]
pub(crate) struct Keys {
    calls: [[Series<Counter>; 4]; 3],
    durations: [Series<Histogram>; 4],
    retry_calls: [Series<Counter>; 4],
    pub(super) retry_attempts: Series<Counter>,
    states: [Series<Gauge>; 4],
    transitions: [[Series<Counter>; 4]; 4],
    pub(super) failure_rate: Series<Gauge>,
    pub(super) bulkhead_available: Series<Gauge>,
    pub(super) rate_limit_available: Series<Gauge>,
    pub(super) hedged_attempts: Series<Counter>,
    /// `hit`, `miss`, `stale`.
    pub(super) cache_requests: [Series<Counter>; 3],
    pub(super) cache_entries: Series<Gauge>,
    pub(super) bulkhead_max: Series<Gauge>,
}

impl Keys {
    /// The keys of `name`, made at its first use.
    pub(crate) fn of(name: &'static str) -> &'static Keys {
        static MADE: Mutex<Option<HashMap<&'static str, &'static Keys>>> = Mutex::new(None);
        let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
        made.get_or_insert_with(HashMap::new)
            .entry(name)
            .or_insert_with(|| Box::leak(Box::new(Keys::new(name))))
    }

    fn new(name: &'static str) -> Self {
        let call = |series, layer: InstanceKind, outcome| {
            labelled(
                series,
                name,
                [
                    ("layer", layer.as_str()),
                    ("outcome", outcome_label(outcome)),
                ],
            )
        };
        Self {
            calls: LAYERS.map(|layer| OUTCOMES.map(|outcome| call(super::CALLS, layer, outcome))),
            durations: OUTCOMES.map(|outcome| {
                let layer = InstanceKind::CircuitBreaker.as_str();
                labelled(
                    super::CALL_DURATION,
                    name,
                    [("layer", layer), ("outcome", outcome_label(outcome))],
                )
            }),
            retry_calls: RETRY_OUTCOMES.map(|outcome| {
                labelled(
                    super::RETRY_CALLS,
                    name,
                    [("outcome", retry_label(outcome))],
                )
            }),
            retry_attempts: labelled(super::RETRY_ATTEMPTS, name, []),
            states: STATES
                .map(|state| labelled(super::CIRCUIT_STATE, name, [("state", state_label(state))])),
            transitions: STATES.map(|from| {
                STATES.map(|to| {
                    let labels = [("from", state_label(from)), ("to", state_label(to))];
                    labelled(super::CIRCUIT_TRANSITIONS, name, labels)
                })
            }),
            failure_rate: labelled(super::CIRCUIT_FAILURE_RATE, name, []),
            bulkhead_available: labelled(super::BULKHEAD_AVAILABLE, name, []),
            rate_limit_available: labelled(super::RATE_LIMIT_AVAILABLE, name, []),
            hedged_attempts: labelled(super::HEDGED_ATTEMPTS, name, []),
            cache_requests: ["hit", "miss", "stale"]
                .map(|result| labelled(super::CACHE_REQUESTS, name, [("result", result)])),
            cache_entries: labelled(super::CACHE_ENTRIES, name, []),
            bulkhead_max: labelled(super::BULKHEAD_MAX, name, []),
        }
    }

    /// A call of the breaker, bulkhead or rate limiter (`layer`) of this name.
    pub(crate) fn call(&self, layer: InstanceKind, outcome: CallOutcome) -> &Series<Counter> {
        let layer = match layer {
            InstanceKind::Bulkhead => 1,
            InstanceKind::RateLimit => 2,
            _ => 0,
        };
        &self.calls[layer][outcome as usize]
    }

    /// The duration of a timed call of the breaker of this name.
    pub(crate) fn duration(&self, outcome: CallOutcome) -> &Series<Histogram> {
        &self.durations[outcome as usize]
    }

    pub(crate) fn retry(&self, outcome: RetryOutcome) -> &Series<Counter> {
        &self.retry_calls[outcome as usize]
    }

    pub(crate) fn state(&self, state: CircuitState) -> &Series<Gauge> {
        &self.states[state_index(state)]
    }

    pub(crate) fn transition(&self, from: CircuitState, to: CircuitState) -> &Series<Counter> {
        &self.transitions[state_index(from)][state_index(to)]
    }
}

/// Series `series` of instance `name` with `labels` after its name (leaked: a name's series
/// live as long as the process).
fn labelled<H, const N: usize>(
    series: &'static str,
    name: &'static str,
    labels: [(&'static str, &'static str); N],
) -> Series<H> {
    let labels = std::iter::once(Label::from_static_parts("name", name))
        .chain(labels.map(|(key, value)| Label::from_static_parts(key, value)))
        .collect::<Vec<_>>();
    Series::new(Key::from_static_parts(series, Vec::leak(labels)))
}

fn state_index(state: CircuitState) -> usize {
    match state {
        CircuitState::Closed => 0,
        CircuitState::Open => 1,
        CircuitState::HalfOpen => 2,
        CircuitState::ForcedOpen => 3,
    }
}
