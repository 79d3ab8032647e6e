//! The attributes on real code: other attribute macros among them take their place in reading
//! order, `mut` receivers survive, `&mut self` futures stay `Send`, and same-named methods of
//! two types keep breakers and bulkheads of their own.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use staunch::{CircuitState, Rejected};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

mod support;
use support::Error;

impl staunch::Classify for Error {
    fn is_transient(&self) -> bool {
        match self {
            Error::Down => true,
            Error::Rejected(rejected) => rejected.is_transient(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spans and events, as a subscriber sees them.
// ---------------------------------------------------------------------------------------------

/// Spans opened (by name) and, for each retry event, the spans it fired in.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Log>>);

#[derive(Default)]
struct Log {
    names: HashMap<u64, &'static str>,
    opened: Vec<&'static str>,
    entered: Vec<u64>,
    retries: Vec<Vec<&'static str>>,
}

impl Spans {
    fn opened(&self, name: &str) -> usize {
        let log = self.0.lock().unwrap();
        log.opened.iter().filter(|n| **n == name).count()
    }

    /// For each retry WARN, whether it fired inside the span `name`.
    fn retries_inside(&self, name: &str) -> Vec<bool> {
        let log = self.0.lock().unwrap();
        log.retries
            .iter()
            .map(|spans| spans.contains(&name))
            .collect()
    }
}

static NEXT_SPAN: AtomicU64 = AtomicU64::new(1);

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = NEXT_SPAN.fetch_add(1, Ordering::Relaxed);
        let mut log = self.0.lock().unwrap();
        log.names.insert(id, span.metadata().name());
        log.opened.push(span.metadata().name());
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut log = self.0.lock().unwrap();
        // A retry's event is the one with an `attempt`.
        if event.metadata().target() == "staunch"
            && event.metadata().fields().field("attempt").is_some()
        {
            let spans = log.entered.iter().map(|id| log.names[id]).collect();
            log.retries.push(spans);
        }
    }
    fn enter(&self, span: &Id) {
        self.0.lock().unwrap().entered.push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut log = self.0.lock().unwrap();
        if let Some(at) = log.entered.iter().rposition(|id| *id == span.into_u64()) {
            log.entered.remove(at);
        }
    }
}

fn traced<F: Future>(f: F) -> (Spans, F::Output) {
    let spans = Spans::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let output = tracing::subscriber::with_default(spans.clone(), || rt.block_on(f));
    (spans, output)
}

// ---------------------------------------------------------------------------------------------
// Another attribute macro between or below staunch attributes.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Client {
    calls: AtomicU32,
}

impl Client {
    #[staunch::fallback(Self::degraded)]
    #[tracing::instrument(skip(self), err)]
    #[staunch::retry(max = 3, base = "1ms")]
    async fn fetch(&self, id: u32) -> Result<u32, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = id;
        Err(Error::Down)
    }

    #[allow(clippy::unused_async)]
    async fn degraded(&self, id: u32, _error: Error) -> Result<u32, Error> {
        Ok(id + 1000)
    }
}

#[test]
fn a_retry_below_another_attribute_stays_inside_the_fallback_above_it() {
    let client = Client::default();
    let (spans, answer) = traced(client.fetch(7));
    assert_eq!(answer, Ok(1007), "the fallback answered");
    assert_eq!(
        client.calls.load(Ordering::SeqCst),
        3,
        "every attempt ran before the fallback"
    );
    assert_eq!(spans.opened("fetch"), 1, "one span around the retries");
    assert_eq!(spans.retries_inside("fetch"), [true, true]);
}

static BREAKER_CALLS: AtomicU32 = AtomicU32::new(0);

#[staunch::retry(max = 5, base = "1ms", jitter = "none")]
#[tracing::instrument]
#[staunch::circuit_breaker(fail_max = 2, reset = "1h")]
async fn behind_breaker() -> Result<(), Error> {
    BREAKER_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

#[test]
fn a_breaker_below_another_attribute_stays_inside_the_retry_above_it() {
    let (spans, answer) = traced(behind_breaker());
    assert!(
        matches!(answer, Err(Error::Rejected(Rejected::CircuitOpen { .. }))),
        "{answer:?}"
    );
    assert_eq!(
        BREAKER_CALLS.load(Ordering::SeqCst),
        2,
        "the breaker opened after two failures"
    );
    assert_eq!(
        spans.opened("behind_breaker"),
        3,
        "one span per attempt, the rejected third included"
    );
    assert_eq!(
        spans.retries_inside("behind_breaker"),
        [false, false],
        "the retry is outside the span"
    );
}

static SPAN_PER_ATTEMPT: AtomicU32 = AtomicU32::new(0);

#[staunch::retry(max = 3, base = "1ms")]
#[tracing::instrument]
async fn span_per_attempt() -> Result<(), Error> {
    SPAN_PER_ATTEMPT.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

#[test]
fn an_attribute_below_retry_opens_one_span_per_attempt() {
    let (spans, answer) = traced(span_per_attempt());
    assert_eq!(answer, Err(Error::Down));
    assert_eq!(SPAN_PER_ATTEMPT.load(Ordering::SeqCst), 3);
    assert_eq!(spans.opened("span_per_attempt"), 3);
    assert_eq!(spans.retries_inside("span_per_attempt"), [false, false]);
}

#[tracing::instrument]
#[staunch::retry(max = 3, base = "1ms")]
async fn above_every_layer() -> Result<(), Error> {
    Err(Error::Down)
}

/// rustc expands it before staunch sees the function, so it wraps the body, inside every layer.
#[test]
fn an_attribute_above_every_staunch_attribute_wraps_the_body_inside_them() {
    let (spans, answer) = traced(above_every_layer());
    assert_eq!(answer, Err(Error::Down));
    assert_eq!(spans.opened("above_every_layer"), 3);
    assert_eq!(spans.retries_inside("above_every_layer"), [false, false]);
}

static INSIDE_TIMEOUT: AtomicU32 = AtomicU32::new(0);

#[staunch::timeout("5s")]
#[tracing::instrument]
#[staunch::retry(max = 3, base = "1ms")]
#[staunch::circuit_breaker(fail_max = 10)]
async fn inside_timeout() -> Result<(), Error> {
    INSIDE_TIMEOUT.fetch_add(1, Ordering::SeqCst);
    Err(Error::Down)
}

#[test]
fn an_attribute_between_opens_its_span_inside_the_layers_above_around_those_below() {
    let (spans, answer) = traced(inside_timeout());
    assert_eq!(answer, Err(Error::Down));
    assert_eq!(INSIDE_TIMEOUT.load(Ordering::SeqCst), 3);
    assert_eq!(
        spans.opened("inside_timeout"),
        1,
        "opened once, inside the timeout"
    );
    assert_eq!(
        spans.retries_inside("inside_timeout"),
        [true, true],
        "the retry's events fire inside it"
    );
}

// ---------------------------------------------------------------------------------------------
// Receivers.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct Message {
    hops: u32,
}

impl Message {
    #[staunch::timeout("1s")]
    async fn forward(mut self) -> Result<u32, Error> {
        self.hops += 1;
        Ok(self.hops)
    }

    #[staunch::retry(max = 3, base = "1ms")]
    async fn send(mut self) -> Result<String, Error> {
        self.hops += 1;
        // Each attempt gets its own copy of `self`.
        if self.hops < 2 {
            return Ok(format!("hops {}", self.hops));
        }
        Err(Error::Down)
    }

    #[staunch::fallback(Self::relay)]
    #[staunch::circuit_breaker(fail_max = 5)]
    async fn route(mut self, mut via: String) -> Result<String, Error> {
        self.hops += 1;
        via.push('!');
        Err(Error::Down)
    }

    #[allow(clippy::unused_async)]
    async fn relay(mut self, via: String, _error: Error) -> Result<String, Error> {
        self.hops += 10;
        Ok(format!("{via} {}", self.hops))
    }
}

#[tokio::test(start_paused = true)]
async fn a_mut_self_receiver_compiles_and_mutates_its_copy() {
    let message = Message { hops: 1 };
    assert_eq!(message.clone().forward().await, Ok(2));
    assert_eq!(Message::default().send().await.as_deref(), Ok("hops 1"));
    assert_eq!(
        message.route("relay".to_owned()).await.as_deref(),
        Ok("relay 11"),
        "the fallback gets the arguments as they were passed"
    );
}

/// `Send` but not `Sync`.
#[derive(Debug, Default)]
struct Meter {
    count: Cell<u32>,
}

impl Meter {
    #[staunch::timeout("1s")]
    async fn tick(&mut self) -> Result<u32, Error> {
        self.count.set(self.count.get() + 1);
        Ok(self.count.get())
    }

    #[staunch::retry(max = 2)]
    #[staunch::circuit_breaker(fail_max = 3)]
    #[staunch::bulkhead(limit = 2)]
    async fn ticks(&mut self, by: u32) -> Result<u32, Error> {
        self.count.set(self.count.get() + by);
        Ok(self.count.get())
    }

    #[staunch::fallback(Self::reset)]
    #[staunch::timeout("1s")]
    async fn checked(&mut self) -> Result<u32, Error> {
        self.count.set(self.count.get() + 1);
        Err(Error::Down)
    }

    #[allow(clippy::unused_async)]
    async fn reset(&mut self, _error: Error) -> Result<u32, Error> {
        self.count.set(0);
        Ok(0)
    }
}

#[tokio::test(start_paused = true)]
async fn a_mut_self_method_of_a_send_but_not_sync_type_is_spawnable() {
    let mut meter = Meter::default();
    let counted = tokio::spawn(async move {
        assert_eq!(meter.tick().await, Ok(1));
        assert_eq!(meter.ticks(2).await, Ok(3));
        assert_eq!(meter.checked().await, Ok(0));
        meter.count.get()
    });
    assert_eq!(counted.await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Unnamed instances of same-named methods.
// ---------------------------------------------------------------------------------------------

trait Source {
    async fn load(&self, fail: bool) -> Result<u32, Error>;
}

struct Primary;
struct Secondary;

impl Source for Primary {
    #[staunch::circuit_breaker(fail_max = 1, reset = "1h")]
    #[staunch::bulkhead(limit = 1)]
    async fn load(&self, fail: bool) -> Result<u32, Error> {
        if fail { Err(Error::Down) } else { Ok(1) }
    }
}

impl Source for Secondary {
    #[staunch::circuit_breaker(fail_max = 1, reset = "1h")]
    #[staunch::bulkhead(limit = 1)]
    async fn load(&self, fail: bool) -> Result<u32, Error> {
        if fail { Err(Error::Down) } else { Ok(2) }
    }
}

#[tokio::test(start_paused = true)]
async fn same_named_methods_of_two_types_never_share_a_breaker() {
    assert_eq!(Primary.load(true).await, Err(Error::Down));
    assert!(matches!(
        Primary.load(false).await,
        Err(Error::Rejected(Rejected::CircuitOpen { .. }))
    ));
    assert_eq!(
        Secondary.load(false).await,
        Ok(2),
        "tripping Primary::load left Secondary::load closed"
    );

    let primary = concat!(module_path!(), "::Primary::load");
    let secondary = concat!(module_path!(), "::Secondary::load");
    assert_eq!(
        staunch::breaker(primary).unwrap().state(),
        CircuitState::Open
    );
    assert_eq!(
        staunch::breaker(secondary).unwrap().state(),
        CircuitState::Closed
    );
    assert!(staunch::bulkhead(primary).is_some());
    assert!(staunch::bulkhead(secondary).is_some());
    assert!(
        staunch::breaker(concat!(module_path!(), "::load")).is_none(),
        "no instance under the unqualified name"
    );
}

impl Primary {
    #[staunch::circuit_breaker(fail_max = 1, reset = "1h")]
    async fn connect(fail: bool) -> Result<u32, Error> {
        if fail { Err(Error::Down) } else { Ok(1) }
    }
}

impl Secondary {
    #[staunch::circuit_breaker(fail_max = 1, reset = "1h")]
    async fn connect(fail: bool) -> Result<u32, Error> {
        if fail { Err(Error::Down) } else { Ok(2) }
    }
}

#[tokio::test(start_paused = true)]
async fn same_named_associated_functions_without_self_never_share_a_breaker() {
    assert_eq!(Primary::connect(true).await, Err(Error::Down));
    assert_eq!(
        Secondary::connect(false).await,
        Ok(2),
        "tripping Primary::connect left Secondary::connect closed"
    );
    let first = concat!(module_path!(), "::connect");
    let second = concat!(module_path!(), "::connect#2");
    let states = [first, second].map(|name| staunch::breaker(name).unwrap().state());
    assert!(
        states.contains(&CircuitState::Open) && states.contains(&CircuitState::Closed),
        "two breakers, told apart by a suffix: {states:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Across another attribute macro, a rejection is still a rejection, whatever the error type.
// ---------------------------------------------------------------------------------------------

/// No `Classify`: without telling rejections apart, every error would be retried and counted.
#[derive(Debug, PartialEq, thiserror::Error)]
enum Plain {
    #[error("dependency down")]
    Down,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

static ACROSS_CALLS: AtomicU32 = AtomicU32::new(0);

#[staunch::retry(max = 5, base = "1ms", jitter = "none")]
#[tracing::instrument]
#[staunch::circuit_breaker(fail_max = 2, reset = "1h")]
async fn across_instrument() -> Result<(), Plain> {
    ACROSS_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Plain::Down)
}

#[test]
fn a_retry_across_another_attribute_never_retries_into_an_open_breaker() {
    let (spans, answer) = traced(across_instrument());
    assert!(
        matches!(answer, Err(Plain::Rejected(Rejected::CircuitOpen { .. }))),
        "{answer:?}"
    );
    assert_eq!(ACROSS_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(
        spans.opened("across_instrument"),
        3,
        "two failures, then one attempt rejected and not retried"
    );
}

#[staunch::circuit_breaker(fail_max = 1, reset = "1h")]
#[tracing::instrument(skip(gate))]
#[staunch::bulkhead(limit = 1)]
async fn breaker_over_bulkhead(gate: tokio::sync::oneshot::Receiver<()>) -> Result<(), Plain> {
    let _ = gate.await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_breaker_across_another_attribute_ignores_a_full_bulkhead_below_it() {
    let (_release, gate) = tokio::sync::oneshot::channel();
    let mut holder = Box::pin(breaker_over_bulkhead(gate));
    let waker = std::task::Waker::noop();
    assert!(
        holder
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    let (_, gate) = tokio::sync::oneshot::channel();
    assert!(matches!(
        breaker_over_bulkhead(gate).await,
        Err(Plain::Rejected(Rejected::BulkheadFull { .. }))
    ));
    let name = concat!(module_path!(), "::breaker_over_bulkhead");
    assert_eq!(
        staunch::breaker(name).unwrap().state(),
        CircuitState::Closed,
        "a full bulkhead is not a failure of the dependency"
    );
}
