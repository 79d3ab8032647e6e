//! The circuit breaker as a user sees it, through `#[staunch::circuit_breaker]` and through
//! `CircuitBreaker::builder`: every option and every transition, on paused tokio time.
//!
//! Most behaviours are written once as a scenario over a `call` (the annotated function, or a
//! builder breaker's `call_classified`) and run through both. Each test uses its own breaker
//! name: the registry is process-wide.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use CircuitState::{Closed, ForcedOpen, HalfOpen, Open};
use staunch::{CircuitBreaker, CircuitState, Classify, ConfigError, Detail, Rejected, Transition};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, oneshot};
use tokio::time::{advance, sleep};

mod support;
use support::{ms, poll_once, secs};

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("dependency down")]
    Down,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

/// "Not found" is the caller's business, not an outage of the dependency.
impl Classify for Error {
    fn is_failure(&self) -> bool {
        match self {
            Self::Down => true,
            Self::NotFound => false,
            Self::Rejected(rejected) => rejected.is_failure(),
        }
    }
}

/// The same errors without `Classify`.
#[derive(Debug, thiserror::Error)]
enum Plain {
    #[error("dependency down")]
    Down,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

fn is_outage(error: &Plain) -> bool {
    !matches!(error, Plain::NotFound)
}

fn never_a_failure(_: &Error) -> bool {
    false
}

fn always_a_failure(_: &Error) -> bool {
    true
}

/// What the protected call does.
type Body = Pin<Box<dyn Future<Output = Result<u32, Error>> + Send>>;

fn ok() -> Body {
    Box::pin(async { Ok(1) })
}

fn down() -> Body {
    Box::pin(async { Err(Error::Down) })
}

fn not_found() -> Body {
    Box::pin(async { Err(Error::NotFound) })
}

/// Succeeds after `d` of tokio time.
fn taking(d: Duration) -> Body {
    Box::pin(async move {
        sleep(d).await;
        Ok(1)
    })
}

/// Never finishes.
fn hanging() -> Body {
    Box::pin(std::future::pending())
}

/// Finishes with what the returned sender sends.
fn gated() -> (oneshot::Sender<Result<u32, Error>>, Body) {
    let (tx, rx) = oneshot::channel();
    (tx, Box::pin(async move { rx.await.expect("gate dropped") }))
}

/// Succeeds, and says so in `ran`.
fn watched(ran: &Arc<AtomicBool>) -> Body {
    let ran = ran.clone();
    Box::pin(async move {
        ran.store(true, Ordering::SeqCst);
        Ok(1)
    })
}

/// An error that may carry a rejection of a layer.
trait Rejection: std::fmt::Debug {
    fn rejection(&self) -> Option<&Rejected>;
}

impl Rejection for Error {
    fn rejection(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

impl Rejection for Plain {
    fn rejection(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

/// The `retry_in` of a `CircuitOpen` rejection from breaker `name`.
#[track_caller]
fn open_for<E: Rejection>(result: Result<u32, E>, name: &str) -> Duration {
    match result.as_ref().map_err(Rejection::rejection) {
        Err(Some(Rejected::CircuitOpen { name: n, retry_in })) if *n == name => *retry_in,
        _ => panic!("expected CircuitOpen from `{name}`, got {result:?}"),
    }
}

#[track_caller]
fn assert_down(result: Result<u32, Error>) {
    assert!(matches!(result, Err(Error::Down)), "{result:?}");
}

/// A named breaker of the registry, which an annotated function registers on its first call.
fn handle(name: &str) -> &'static CircuitBreaker {
    staunch::breaker(name).expect("registered on first call")
}

#[track_caller]
fn expect_transitions(
    events: &mut broadcast::Receiver<Transition>,
    expected: &[(CircuitState, CircuitState)],
) {
    for &(from, to) in expected {
        let t = events.try_recv().expect("a transition");
        assert_eq!((t.from, t.to), (from, to), "{t:?}");
    }
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
}

// ---------------------------------------------------------------------------------------------
// fail_max: consecutive failures.
// ---------------------------------------------------------------------------------------------

/// With `fail_max = 3`, `reset = 10s`: three failures in a row open the breaker; a success in
/// between starts the count again; an open breaker refuses without running the call.
async fn scenario_fail_max<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_down(call(down()).await);
    assert_down(call(down()).await);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_down(call(down()).await);
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Closed);
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Open);

    let ran = Arc::new(AtomicBool::new(false));
    assert_eq!(open_for(call(watched(&ran)).await, name), secs(10));
    assert!(!ran.load(Ordering::SeqCst), "an open breaker ran the call");
}

#[staunch::circuit_breaker(name = "attr-fail-max", fail_max = 3, reset = "10s")]
async fn attr_fail_max(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_fail_max_failures_in_a_row_open_it() {
    scenario_fail_max("attr-fail-max", attr_fail_max, || handle("attr-fail-max")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_fail_max_failures_in_a_row_open_it() {
    let breaker = CircuitBreaker::builder("builder-fail-max")
        .fail_max(3)
        .reset(secs(10))
        .build()
        .unwrap();
    scenario_fail_max(
        "builder-fail-max",
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

/// Defaults: `fail_max` 5, `reset` 60 s, `half_open` 1.
async fn scenario_defaults<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    for _ in 0..4 {
        assert_down(call(down()).await);
    }
    assert_eq!(breaker().state(), Closed);
    assert_down(call(down()).await);
    assert_eq!(open_for(call(ok()).await, name), secs(60));
    advance(secs(59)).await;
    assert_eq!(open_for(call(ok()).await, name), secs(1));
    advance(secs(1)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker().state(), Closed, "one trial success closes it");
}

#[staunch::circuit_breaker(name = "attr-defaults")]
async fn attr_defaults(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_defaults_are_five_failures_sixty_seconds_one_trial() {
    scenario_defaults("attr-defaults", attr_defaults, || handle("attr-defaults")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_defaults_are_five_failures_sixty_seconds_one_trial() {
    let breaker = CircuitBreaker::builder("builder-defaults").build().unwrap();
    scenario_defaults(
        "builder-defaults",
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// reset and half_open: OPEN → HALF_OPEN → CLOSED / OPEN.
// ---------------------------------------------------------------------------------------------

/// With `fail_max = 1`, `reset = 10s`, `half_open = 2`: OPEN lasts exactly `reset` (and
/// `retry_in` counts down to it), two trial successes close it, a failing trial reopens it for
/// a whole `reset` again, and subscribers see every transition.
async fn scenario_reset_and_half_open<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_eq!(call(ok()).await.unwrap(), 1);
    let mut events = breaker().subscribe();

    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Open);
    assert_eq!(open_for(call(ok()).await, name), secs(10));
    advance(secs(4)).await;
    assert_eq!(open_for(call(ok()).await, name), secs(6));
    advance(ms(5_999)).await;
    assert_eq!(open_for(call(ok()).await, name), ms(1));
    assert_eq!(breaker().state(), Open, "not HALF_OPEN before `reset`");
    advance(ms(1)).await;

    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker().state(), HalfOpen, "one success of two");
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker().state(), Closed);

    assert_down(call(down()).await);
    advance(secs(10)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker().state(), HalfOpen);
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Open, "a failing trial reopens it");
    assert_eq!(open_for(call(ok()).await, name), secs(10));
    advance(secs(10)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker().state(), Closed);

    expect_transitions(
        &mut events,
        &[
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
        ],
    );
}

#[staunch::circuit_breaker(name = "attr-reset", fail_max = 1, reset = "10s", half_open = 2)]
async fn attr_reset(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_reset_and_half_open_drive_every_transition() {
    scenario_reset_and_half_open("attr-reset", attr_reset, || handle("attr-reset")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_reset_and_half_open_drive_every_transition() {
    let breaker = CircuitBreaker::builder("builder-reset")
        .fail_max(1)
        .reset(secs(10))
        .half_open(2)
        .build()
        .unwrap();
    scenario_reset_and_half_open(
        "builder-reset",
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

/// With `fail_max = 1`, `reset = 10s`, `half_open = 2`: HALF_OPEN admits two concurrent trials
/// and refuses a third; a trial dropped after one poll, or cancelled by `tokio::time::timeout`,
/// frees its slot; two successes still close the breaker.
async fn scenario_concurrent_trials<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_down(call(down()).await);
    advance(secs(10)).await;

    let (release_first, first) = gated();
    let mut first = Box::pin(call(first));
    assert!(
        poll_once(&mut first).await.is_pending(),
        "first trial admitted"
    );
    let mut second = Box::pin(call(hanging()));
    assert!(
        poll_once(&mut second).await.is_pending(),
        "second trial admitted"
    );
    let ran = Arc::new(AtomicBool::new(false));
    open_for(call(watched(&ran)).await, name);
    assert!(!ran.load(Ordering::SeqCst), "a third concurrent trial ran");
    assert_eq!(breaker().state(), HalfOpen);

    drop(second);
    let third = call(hanging());
    assert!(
        tokio::time::timeout(secs(1), third).await.is_err(),
        "the slot of the dropped trial admits a new one, which hangs"
    );
    // The timed-out trial freed its slot in turn.
    let (release_fourth, fourth) = gated();
    let mut fourth = Box::pin(call(fourth));
    assert!(
        poll_once(&mut fourth).await.is_pending(),
        "fourth trial admitted"
    );
    open_for(call(ok()).await, name);

    release_first.send(Ok(1)).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(breaker().state(), HalfOpen, "one success of two");
    release_fourth.send(Ok(2)).unwrap();
    assert_eq!(fourth.await.unwrap(), 2);
    assert_eq!(breaker().state(), Closed);
}

#[staunch::circuit_breaker(name = "attr-trials", fail_max = 1, reset = "10s", half_open = 2)]
async fn attr_trials(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_half_open_admits_at_most_half_open_trials_and_cancelled_ones_leave() {
    scenario_concurrent_trials("attr-trials", attr_trials, || handle("attr-trials")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_half_open_admits_at_most_half_open_trials_and_cancelled_ones_leave() {
    let breaker = CircuitBreaker::builder("builder-trials")
        .fail_max(1)
        .reset(secs(10))
        .half_open(2)
        .build()
        .unwrap();
    scenario_concurrent_trials(
        "builder-trials",
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

/// The one trial of a default breaker is cancelled: the breaker must not wedge in HALF_OPEN.
#[tokio::test(start_paused = true)]
async fn a_cancelled_single_trial_does_not_wedge_half_open() {
    let breaker = CircuitBreaker::builder("builder-single-trial")
        .fail_max(1)
        .reset(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_down(call(down()).await);
    advance(secs(1)).await;
    for _ in 0..3 {
        let mut trial = Box::pin(call(hanging()));
        assert!(poll_once(&mut trial).await.is_pending());
        open_for(call(ok()).await, "builder-single-trial");
        drop(trial);
        assert_eq!(breaker.state(), HalfOpen);
    }
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed);
}

/// A trial still running when the breaker is forced into another state belongs to the period
/// that admitted it: its outcome changes nothing later.
#[tokio::test(start_paused = true)]
async fn a_trial_outliving_its_half_open_period_changes_nothing() {
    let breaker = CircuitBreaker::builder("builder-stale-trial")
        .fail_max(1)
        .reset(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_down(call(down()).await);
    advance(secs(1)).await;

    let (fail, trial) = gated();
    let mut trial = Box::pin(call(trial));
    assert!(poll_once(&mut trial).await.is_pending());
    breaker.force_closed();
    fail.send(Err(Error::Down)).unwrap();
    assert_down(trial.await);
    assert_eq!(breaker.state(), Closed, "a stale failing trial reopened it");

    assert_down(call(down()).await);
    advance(secs(1)).await;
    let (succeed, trial) = gated();
    let mut trial = Box::pin(call(trial));
    assert!(poll_once(&mut trial).await.is_pending());
    breaker.force_open();
    succeed.send(Ok(1)).unwrap();
    assert_eq!(trial.await.unwrap(), 1);
    assert_eq!(
        breaker.state(),
        ForcedOpen,
        "a stale succeeding trial closed it"
    );
}

// ---------------------------------------------------------------------------------------------
// window, failure_rate, min_calls.
// ---------------------------------------------------------------------------------------------

/// With `window = 4`, `failure_rate = 50`: nothing is judged before four calls (`min_calls`
/// defaults to the window); 25 % stays closed; the window slides (the oldest call leaves); a
/// rate equal to 50 % opens it.
async fn scenario_failure_rate<'b>(
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Closed, "100 % of one call is not judged");
    for _ in 0..3 {
        assert_eq!(call(ok()).await.unwrap(), 1);
    }
    assert_eq!(breaker().metrics().failure_rate, Some(25.0));
    assert_eq!(breaker().state(), Closed, "25 % is below 50 %");
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(
        breaker().metrics().failure_rate,
        Some(0.0),
        "the oldest call, a failure, left the window"
    );
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Closed, "25 %");
    assert_down(call(down()).await);
    assert_eq!(breaker().metrics().failure_rate, Some(50.0));
    assert_eq!(
        breaker().state(),
        Open,
        "a rate equal to the threshold opens it"
    );
}

#[staunch::circuit_breaker(name = "attr-rate", window = 4, failure_rate = 50, reset = "10s")]
async fn attr_rate(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_failure_rate_equal_to_the_threshold_opens_it() {
    scenario_failure_rate(attr_rate, || handle("attr-rate")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_failure_rate_equal_to_the_threshold_opens_it() {
    let breaker = CircuitBreaker::builder("builder-rate")
        .window(4)
        .failure_rate(50)
        .reset(secs(10))
        .build()
        .unwrap();
    scenario_failure_rate(
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

/// With `window = 10`, `failure_rate = 60`, `min_calls = 4`: three failures are not judged,
/// the fourth call is, well before the window is full.
async fn scenario_min_calls<'b>(
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_down(call(down()).await);
    assert_down(call(down()).await);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(
        breaker().state(),
        Closed,
        "67 % of three calls is below `min_calls`"
    );
    assert_down(call(down()).await);
    assert_eq!(breaker().metrics().window_calls, 4);
    assert_eq!(breaker().state(), Open, "75 % of four calls");
}

#[staunch::circuit_breaker(name = "attr-min-calls", window = 10, failure_rate = 60, min_calls = 4)]
async fn attr_min_calls(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_min_calls_judges_the_rate_from_that_many_calls() {
    scenario_min_calls(attr_min_calls, || handle("attr-min-calls")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_min_calls_judges_the_rate_from_that_many_calls() {
    let breaker = CircuitBreaker::builder("builder-min-calls")
        .window(10)
        .failure_rate(60)
        .min_calls(4)
        .build()
        .unwrap();
    scenario_min_calls(
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

/// Regression: the rate was judged only when a failure was recorded, so three failures then a
/// success reaching `min_calls` (75 % ≥ 50 %) left the breaker closed.
#[tokio::test(start_paused = true)]
async fn a_success_reaching_min_calls_opens_it_when_the_rate_is_over() {
    let breaker = CircuitBreaker::builder("builder-min-calls-success")
        .window(10)
        .failure_rate(50)
        .min_calls(4)
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    for _ in 0..3 {
        assert_down(call(down()).await);
    }
    assert_eq!(breaker.state(), Closed);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker.state(), Open);
}

/// The failure rate of a breaker that closed again starts from an empty window.
#[tokio::test(start_paused = true)]
async fn closing_again_empties_the_window() {
    let breaker = CircuitBreaker::builder("builder-window-cleared")
        .window(4)
        .failure_rate(50)
        .reset(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    for body in [down(), down(), ok(), down()] {
        let _ = call(body).await;
    }
    assert_eq!(breaker.state(), Open);
    advance(secs(1)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed);
    assert_eq!(breaker.metrics().window_calls, 0);
    for _ in 0..3 {
        assert_down(call(down()).await);
    }
    assert_eq!(
        breaker.state(),
        Closed,
        "three calls of a new window of four"
    );
}

// ---------------------------------------------------------------------------------------------
// slow_call, slow_rate.
// ---------------------------------------------------------------------------------------------

/// Runs a body that takes exactly `d`, moving tokio time by `d`.
async fn timed(call: &impl AsyncFn(Body) -> Result<u32, Error>, d: Duration) -> Result<u32, Error> {
    let mut pending = Box::pin(call(taking(d)));
    assert!(poll_once(&mut pending).await.is_pending());
    advance(d).await;
    pending.await
}

/// With `window = 4`, `failure_rate = 100`, `slow_call = 1s`, `slow_rate = 50`: a call of
/// exactly 1 s is not slow, one of 1.001 s is, and 50 % slow calls open the breaker although
/// every call succeeded.
async fn scenario_slow_calls<'b>(
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_eq!(timed(&call, ms(999)).await.unwrap(), 1);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(timed(&call, secs(1)).await.unwrap(), 1);
    let metrics = breaker().metrics();
    assert_eq!(metrics.window_calls, 3);
    assert_eq!(
        (metrics.failure_rate, metrics.slow_rate),
        (None, None),
        "not judged below `min_calls` (the window)"
    );
    assert_eq!(timed(&call, ms(1001)).await.unwrap(), 1);
    let metrics = breaker().metrics();
    assert_eq!(metrics.failure_rate, Some(0.0));
    assert_eq!(
        metrics.slow_rate,
        Some(25.0),
        "only the 1.001 s call is slow"
    );
    assert_eq!(breaker().state(), Closed);
    assert_eq!(timed(&call, secs(2)).await.unwrap(), 1);
    assert_eq!(breaker().state(), Open, "half of the calls were slow");
    assert_eq!(
        breaker().metrics().slow_rate,
        Some(50.0),
        "OPEN keeps the window that opened it"
    );
}

#[staunch::circuit_breaker(
    name = "attr-slow",
    window = 4,
    failure_rate = 100,
    slow_call = "1s",
    slow_rate = 50
)]
async fn attr_slow(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_slow_calls_open_it_at_slow_rate() {
    scenario_slow_calls(attr_slow, || handle("attr-slow")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_slow_calls_open_it_at_slow_rate() {
    let breaker = CircuitBreaker::builder("builder-slow")
        .window(4)
        .failure_rate(100)
        .slow_call(secs(1))
        .slow_rate(50)
        .build()
        .unwrap();
    scenario_slow_calls(
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn slow_rate_defaults_to_every_call() {
    let breaker = CircuitBreaker::builder("builder-slow-default")
        .window(2)
        .failure_rate(100)
        .slow_call(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    timed(&call, secs(2)).await.unwrap();
    call(ok()).await.unwrap();
    assert_eq!(breaker.state(), Closed, "50 % slow");
    timed(&call, secs(2)).await.unwrap();
    assert_eq!(breaker.state(), Closed, "50 % slow");
    timed(&call, secs(2)).await.unwrap();
    assert_eq!(breaker.state(), Open, "100 % slow");
}

// ---------------------------------------------------------------------------------------------
// What counts as a failure: `failure = pred`, else `Classify`, else every error.
// ---------------------------------------------------------------------------------------------

/// With `fail_max = 2`, `reset = 10s`: a non-failure ("not found") counts as a success, both
/// breaking a run of failures in CLOSED and as a trial in HALF_OPEN.
async fn scenario_non_failures<'b, E: Rejection>(
    name: &str,
    call: impl AsyncFn(Result<u32, ()>) -> Result<u32, E>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    // Ok(_) succeeds, Err(()) is "down"; "not found" is `Ok(404)` mapped by the caller.
    assert!(call(Err(())).await.is_err());
    assert!(
        call(Ok(404)).await.is_err(),
        "not found is still the caller's error"
    );
    assert!(call(Err(())).await.is_err());
    assert_eq!(
        breaker().state(),
        Closed,
        "not found broke the run of failures"
    );
    assert!(call(Err(())).await.is_err());
    assert_eq!(breaker().state(), Open);
    assert_eq!(breaker().metrics().failures, 3);
    open_for(call(Ok(1)).await, name);
    advance(secs(10)).await;
    assert!(call(Ok(404)).await.is_err());
    assert_eq!(
        breaker().state(),
        Closed,
        "a not-found trial is a successful trial"
    );
}

fn outcome(o: Result<u32, ()>) -> Body {
    match o {
        Ok(404) => not_found(),
        Ok(v) => Box::pin(async move { Ok(v) }),
        Err(()) => down(),
    }
}

fn plain(o: Result<u32, ()>) -> Result<u32, Plain> {
    match o {
        Ok(404) => Err(Plain::NotFound),
        Ok(v) => Ok(v),
        Err(()) => Err(Plain::Down),
    }
}

#[staunch::circuit_breaker(name = "attr-classify", fail_max = 2, reset = "10s")]
async fn attr_classify(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_errors_whose_classify_says_no_failure_count_as_successes() {
    scenario_non_failures(
        "attr-classify",
        async |o| attr_classify(outcome(o)).await,
        || handle("attr-classify"),
    )
    .await;
}

#[staunch::circuit_breaker(name = "attr-predicate", fail_max = 2, reset = "10s", failure = is_outage)]
async fn attr_predicate(result: Result<u32, Plain>) -> Result<u32, Plain> {
    result
}

#[tokio::test(start_paused = true)]
async fn attribute_errors_the_failure_predicate_rejects_count_as_successes() {
    scenario_non_failures(
        "attr-predicate",
        async |o| attr_predicate(plain(o)).await,
        || handle("attr-predicate"),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn builder_call_classified_counts_non_failures_as_successes() {
    let breaker = CircuitBreaker::builder("builder-classify")
        .fail_max(2)
        .reset(secs(10))
        .build()
        .unwrap();
    scenario_non_failures(
        "builder-classify",
        async |o| breaker.call_classified(|| outcome(o)).await,
        || &breaker,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn builder_call_with_counts_what_the_predicate_rejects_as_successes() {
    let breaker = CircuitBreaker::builder("builder-predicate")
        .fail_max(2)
        .reset(secs(10))
        .build()
        .unwrap();
    scenario_non_failures(
        "builder-predicate",
        async |o| {
            breaker
                .call_with(|| async move { plain(o) }, is_outage)
                .await
        },
        || &breaker,
    )
    .await;
}

#[staunch::circuit_breaker(name = "attr-every-error", fail_max = 2)]
async fn attr_every_error(result: Result<u32, Plain>) -> Result<u32, Plain> {
    result
}

#[staunch::circuit_breaker(name = "attr-predicate-wins", fail_max = 2, failure = always_a_failure)]
async fn attr_predicate_wins(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn without_predicate_or_classify_every_error_is_a_failure() {
    assert!(attr_every_error(Err(Plain::NotFound)).await.is_err());
    assert!(attr_every_error(Err(Plain::NotFound)).await.is_err());
    assert_eq!(handle("attr-every-error").state(), Open);

    let breaker = CircuitBreaker::builder("builder-every-error")
        .fail_max(2)
        .build()
        .unwrap();
    for _ in 0..2 {
        let _ = breaker.call(not_found).await;
    }
    assert_eq!(
        breaker.state(),
        Open,
        "`call` counts every error, whatever its Classify"
    );
}

#[tokio::test(start_paused = true)]
async fn an_explicit_failure_predicate_wins_over_classify() {
    assert!(attr_predicate_wins(not_found()).await.is_err());
    assert!(attr_predicate_wins(not_found()).await.is_err());
    assert_eq!(handle("attr-predicate-wins").state(), Open);
}

// ---------------------------------------------------------------------------------------------
// Rejections of inner layers: a timeout is a failure, a full bulkhead is neither.
// ---------------------------------------------------------------------------------------------

#[staunch::circuit_breaker(name = "attr-inner-timeout", fail_max = 2, failure = never_a_failure)]
#[staunch::timeout("1s")]
async fn attr_inner_timeout(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn an_inner_timeout_counts_as_a_failure() {
    for _ in 0..3 {
        assert_down(attr_inner_timeout(down()).await);
    }
    assert_eq!(
        handle("attr-inner-timeout").state(),
        Closed,
        "the predicate says no"
    );
    for _ in 0..2 {
        let mut call = Box::pin(attr_inner_timeout(taking(secs(5))));
        assert!(poll_once(&mut call).await.is_pending());
        advance(secs(1)).await;
        assert!(matches!(
            call.await,
            Err(Error::Rejected(Rejected::Timeout { after })) if after == secs(1)
        ));
    }
    let breaker = handle("attr-inner-timeout");
    assert_eq!(
        breaker.state(),
        Open,
        "timeouts count whatever the predicate says"
    );
    assert_eq!(breaker.metrics().failures, 2);
    open_for(attr_inner_timeout(ok()).await, "attr-inner-timeout");
}

#[staunch::circuit_breaker(
    name = "attr-inner-bulkhead",
    fail_max = 2,
    reset = "10s",
    half_open = 2
)]
#[staunch::bulkhead(name = "attr-inner-bulkhead-slots", limit = 1)]
async fn attr_inner_bulkhead(body: Body) -> Result<u32, Error> {
    body.await
}

#[track_caller]
fn assert_bulkhead_full(result: Result<u32, Error>) {
    assert!(
        matches!(
            result,
            Err(Error::Rejected(Rejected::BulkheadFull {
                name: "attr-inner-bulkhead-slots",
                limit: 1
            }))
        ),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_inner_full_bulkhead_is_neither_success_nor_failure() {
    assert_down(attr_inner_bulkhead(down()).await);
    let breaker = handle("attr-inner-bulkhead");

    let mut holder = Box::pin(attr_inner_bulkhead(hanging()));
    assert!(poll_once(&mut holder).await.is_pending());
    for _ in 0..3 {
        assert_bulkhead_full(attr_inner_bulkhead(ok()).await);
    }
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.state, metrics.failures),
        (Closed, 1),
        "not failures"
    );
    assert_eq!(metrics.consecutive_failures, 1, "not successes either");
    drop(holder);
    assert_down(attr_inner_bulkhead(down()).await);
    assert_eq!(breaker.state(), Open);

    // In HALF_OPEN, a trial that the bulkhead refuses gives its trial slot back.
    advance(secs(10)).await;
    let mut holder = Box::pin(attr_inner_bulkhead(hanging()));
    assert!(poll_once(&mut holder).await.is_pending(), "first trial");
    for _ in 0..3 {
        assert_bulkhead_full(attr_inner_bulkhead(ok()).await);
    }
    assert_eq!(breaker.state(), HalfOpen);
    drop(holder);
    assert_eq!(attr_inner_bulkhead(ok()).await.unwrap(), 1);
    assert_eq!(attr_inner_bulkhead(ok()).await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed);
}

// ---------------------------------------------------------------------------------------------
// Handles: force_open, force_closed, reset, metrics, subscribe, lookup by name.
// ---------------------------------------------------------------------------------------------

/// With `fail_max = 3`, `reset = 10s`.
async fn scenario_forcing<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    breaker: impl Fn() -> &'b CircuitBreaker,
) {
    assert_eq!(call(ok()).await.unwrap(), 1);
    let mut events = breaker().subscribe();

    breaker().force_open();
    assert_eq!(breaker().state(), ForcedOpen);
    let ran = Arc::new(AtomicBool::new(false));
    open_for(call(watched(&ran)).await, name);
    advance(Duration::from_secs(24 * 3600)).await;
    open_for(call(watched(&ran)).await, name);
    assert!(!ran.load(Ordering::SeqCst), "forced open, the call ran");
    assert_eq!(
        breaker().state(),
        ForcedOpen,
        "forced open outlasts `reset`"
    );

    breaker().force_closed();
    assert_eq!(breaker().state(), Closed);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_down(call(down()).await);
    assert_down(call(down()).await);
    breaker().force_closed();
    assert_eq!(
        breaker().metrics().consecutive_failures,
        0,
        "counts cleared"
    );
    assert_down(call(down()).await);
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Closed);
    assert_down(call(down()).await);
    assert_eq!(breaker().state(), Open);

    // force_closed from HALF_OPEN.
    advance(secs(10)).await;
    let mut trial = Box::pin(call(hanging()));
    assert!(poll_once(&mut trial).await.is_pending());
    assert_eq!(breaker().state(), HalfOpen);
    breaker().force_closed();
    drop(trial);
    assert_eq!(breaker().state(), Closed);

    // force_open from HALF_OPEN, then reset().
    breaker().force_open();
    assert_eq!(breaker().state(), ForcedOpen);
    breaker().reset();
    assert_eq!(breaker().state(), Closed);
    let metrics = breaker().metrics();
    assert_eq!(
        (
            metrics.failures,
            metrics.rejected,
            metrics.transitions,
            metrics.consecutive_failures
        ),
        (0, 0, 0, 0),
        "reset() clears every counter"
    );
    assert_eq!(call(ok()).await.unwrap(), 1);

    expect_transitions(
        &mut events,
        &[
            (Closed, ForcedOpen),
            (ForcedOpen, Closed),
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, ForcedOpen),
            (ForcedOpen, Closed),
        ],
    );
}

#[staunch::circuit_breaker(name = "attr-forcing", fail_max = 3, reset = "10s")]
async fn attr_forcing(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_force_open_force_closed_and_reset_through_the_handle() {
    scenario_forcing("attr-forcing", attr_forcing, || handle("attr-forcing")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_force_open_force_closed_and_reset() {
    let breaker = CircuitBreaker::builder("builder-forcing")
        .fail_max(3)
        .reset(secs(10))
        .build()
        .unwrap();
    scenario_forcing(
        "builder-forcing",
        async |body| breaker.call_classified(|| body).await,
        || &breaker,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn metrics_count_failures_rejections_and_transitions() {
    let breaker = CircuitBreaker::builder("builder-metrics")
        .fail_max(3)
        .reset(secs(10))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    let m = breaker.metrics();
    assert_eq!(
        (
            m.state,
            m.failures,
            m.rejected,
            m.transitions,
            m.consecutive_failures
        ),
        (Closed, 0, 0, 0, 0)
    );
    assert_eq!(
        (m.window_calls, m.failure_rate, m.slow_rate),
        (0, None, None)
    );

    assert_down(call(down()).await);
    assert_down(call(down()).await);
    let m = breaker.metrics();
    assert_eq!((m.failures, m.consecutive_failures), (2, 2));
    assert_eq!(
        call(not_found()).await.unwrap_err().to_string(),
        "not found"
    );
    let m = breaker.metrics();
    assert_eq!((m.failures, m.consecutive_failures), (2, 0));

    for _ in 0..3 {
        assert_down(call(down()).await);
    }
    open_for(call(ok()).await, "builder-metrics");
    open_for(call(ok()).await, "builder-metrics");
    let m = breaker.metrics();
    assert_eq!(
        (
            m.state,
            m.failures,
            m.rejected,
            m.rejected_total,
            m.transitions
        ),
        (Open, 5, 2, 2, 1)
    );

    advance(secs(10)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    let m = breaker.metrics();
    assert_eq!(
        (
            m.state,
            m.failures,
            m.rejected,
            m.rejected_total,
            m.transitions,
            m.consecutive_failures
        ),
        (Closed, 5, 0, 2, 3, 0),
        "CLOSED counts its own rejections"
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_of_a_window_give_the_failure_and_slow_rates() {
    let breaker = CircuitBreaker::builder("builder-window-metrics")
        .window(8)
        .failure_rate(100)
        .min_calls(4)
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_eq!(breaker.metrics().failure_rate, None, "no call yet");
    for body in [down(), ok(), ok()] {
        let _ = call(body).await;
    }
    let m = breaker.metrics();
    assert_eq!(
        (m.window_calls, m.failure_rate),
        (3, None),
        "below `min_calls` the rate is not judged, so not reported"
    );
    let _ = call(not_found()).await;
    let m = breaker.metrics();
    assert_eq!(
        (m.window_calls, m.failures, m.consecutive_failures),
        (4, 1, 0)
    );
    assert_eq!(m.failure_rate, Some(25.0));
    assert_eq!(m.slow_rate, None, "slow calls are not tracked");
}

#[staunch::circuit_breaker(name = "attr-handle")]
async fn attr_handle(body: Body) -> Result<u32, Error> {
    body.await
}

#[staunch::circuit_breaker(fail_max = 1)]
async fn attr_unnamed(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn breaker_finds_named_breakers_and_none_for_unknown_names() {
    assert!(
        staunch::breaker("attr-handle").is_none(),
        "created on first use"
    );
    assert!(staunch::breaker("no-such-breaker").is_none());
    assert_eq!(attr_handle(ok()).await.unwrap(), 1);
    let breaker = staunch::breaker("attr-handle").unwrap();
    assert_eq!(breaker.name(), "attr-handle");
    breaker.force_open();
    open_for(attr_handle(ok()).await, "attr-handle");
    breaker.force_closed();
    assert_eq!(attr_handle(ok()).await.unwrap(), 1);

    // Without `name`, the breaker is the function's own, named by module path and ident.
    let own = concat!(module_path!(), "::attr_unnamed");
    assert_down(attr_unnamed(down()).await);
    assert_eq!(staunch::breaker(own).unwrap().state(), Open);
    open_for(attr_unnamed(ok()).await, own);

    let shared = CircuitBreaker::builder("builder-shared-handle")
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(
        shared,
        staunch::breaker("builder-shared-handle").unwrap()
    ));
}

#[staunch::circuit_breaker(name = "attr-shared", fail_max = 2, reset = "10s")]
async fn attr_shared_reads(body: Body) -> Result<u32, Error> {
    body.await
}

#[staunch::circuit_breaker(name = "attr-shared", fail_max = 2, reset = "10s")]
async fn attr_shared_writes(key: &str, body: Body) -> Result<u32, Error> {
    let _ = key;
    body.await
}

#[tokio::test(start_paused = true)]
async fn functions_naming_the_same_breaker_share_it() {
    assert_down(attr_shared_reads(down()).await);
    assert_down(attr_shared_writes("k", down()).await);
    open_for(attr_shared_reads(ok()).await, "attr-shared");
    open_for(attr_shared_writes("k", ok()).await, "attr-shared");
    advance(secs(10)).await;
    assert_eq!(attr_shared_writes("k", ok()).await.unwrap(), 1);
    assert_eq!(handle("attr-shared").state(), Closed);
    assert_eq!(attr_shared_reads(ok()).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Invalid configurations are errors, never panics.
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn out_of_range(result: Result<CircuitBreaker, ConfigError>, option: &str) {
    match result {
        Err(ConfigError::OutOfRange { option: o, .. }) if o == option => {}
        other => panic!("expected `{option}` out of range, got {other:?}"),
    }
}

#[test]
fn build_refuses_every_invalid_configuration() {
    let b = || CircuitBreaker::builder("invalid");
    out_of_range(b().fail_max(0).build(), "fail_max");
    out_of_range(b().window(0).build(), "window");
    out_of_range(b().window(10).failure_rate(0).build(), "failure_rate");
    out_of_range(b().window(10).failure_rate(101).build(), "failure_rate");
    out_of_range(b().window(10).min_calls(11).build(), "min_calls");
    out_of_range(b().window(10).min_calls(0).build(), "min_calls");
    out_of_range(
        b().window(10).slow_call(Duration::ZERO).build(),
        "slow_call",
    );
    out_of_range(
        b().window(10).slow_call(secs(1)).slow_rate(0).build(),
        "slow_rate",
    );
    out_of_range(
        b().window(10).slow_call(secs(1)).slow_rate(101).build(),
        "slow_rate",
    );
    out_of_range(b().reset(Duration::ZERO).build(), "reset");
    out_of_range(b().half_open(0).build(), "half_open");
    assert_eq!(
        b().window(10).fail_max(3).build().unwrap_err(),
        ConfigError::Conflict("fail_max", "window")
    );
    assert_eq!(
        b().window(10).slow_rate(50).build().unwrap_err(),
        ConfigError::Requires {
            option: "slow_rate",
            requires: "slow_call"
        }
    );
    for (builder, option) in [
        (b().min_calls(3), "min_calls"),
        (b().slow_call(secs(1)), "slow_call"),
        (b().slow_rate(50), "slow_rate"),
    ] {
        assert_eq!(
            builder.build().unwrap_err(),
            ConfigError::Requires {
                option,
                requires: "window"
            }
        );
    }
    assert!(b().fail_max(0).build_shared().is_err());
    assert!(staunch::breaker("invalid").is_none(), "nothing registered");
}

/// Regression: `failure_rate` without `window` was accepted, even out of range, and then
/// silently ignored; the attribute refuses it, and the builder mirrors the attribute.
#[test]
fn build_refuses_failure_rate_without_window() {
    for rate in [30, 0, 101] {
        assert_eq!(
            CircuitBreaker::builder("invalid-rate")
                .fail_max(3)
                .failure_rate(rate)
                .build()
                .unwrap_err(),
            ConfigError::Requires {
                option: "failure_rate",
                requires: "window"
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The registry.
// ---------------------------------------------------------------------------------------------

#[staunch::circuit_breaker(name = "attr-snapshot", fail_max = 1, reset = "10s")]
async fn attr_snapshot(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_lists_named_breakers_with_state_and_counters_and_serializes() {
    assert_down(attr_snapshot(down()).await);
    open_for(attr_snapshot(ok()).await, "attr-snapshot");
    CircuitBreaker::builder("builder-snapshot")
        .window(4)
        .build_shared()
        .unwrap();

    let snapshot = staunch::registry().snapshot();
    let find = |name: &str| {
        snapshot
            .instances
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{name} in {snapshot:?}"))
    };
    let Detail::CircuitBreaker(metrics) = &find("attr-snapshot").detail else {
        panic!("a breaker");
    };
    assert_eq!(
        (
            metrics.state,
            metrics.failures,
            metrics.rejected,
            metrics.transitions
        ),
        (Open, 1, 1, 1)
    );
    assert!(matches!(
        &find("builder-snapshot").detail,
        Detail::CircuitBreaker(m) if m.state == Closed && m.window_calls == 0
    ));

    let json = serde_json::to_value(&snapshot).unwrap();
    let entry = json["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "attr-snapshot")
        .unwrap();
    assert_eq!(entry["kind"], "circuit_breaker");
    assert_eq!(entry["state"], "open");
    assert_eq!(entry["failures"], 1);
    assert_eq!(entry["rejected"], 1);
    assert_eq!(entry["transitions"], 1);
    assert_eq!(entry["failure_rate"], serde_json::Value::Null);
}

/// Regression, found by the loom model of HALF_OPEN (runtime/tests/loom.rs): a cancelled
/// trial gave its slot back before its call was dropped, so a new trial could start while the
/// cancelled call was still being torn down (`half_open + 1` calls at once).
#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_holds_its_slot_until_its_call_is_dropped() {
    /// Part of the trial's call: when the call is dropped, checks whether a new caller would
    /// be admitted right now.
    struct TornDown<'b> {
        breaker: &'b CircuitBreaker,
        admitted_meanwhile: Arc<AtomicBool>,
    }
    impl Drop for TornDown<'_> {
        fn drop(&mut self) {
            let mut probe = std::pin::pin!(self.breaker.call(ok));
            let first = probe
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
            let refused = matches!(
                first,
                Poll::Ready(Err(Error::Rejected(Rejected::CircuitOpen { .. })))
            );
            self.admitted_meanwhile.store(!refused, Ordering::SeqCst);
        }
    }

    let breaker = CircuitBreaker::builder("cancelled-trial-slot")
        .fail_max(1)
        .reset(secs(1))
        .build()
        .unwrap();
    assert_down(breaker.call(down).await);
    advance(secs(1)).await;
    let admitted_meanwhile = Arc::new(AtomicBool::new(true));
    let torn_down = TornDown {
        breaker: &breaker,
        admitted_meanwhile: admitted_meanwhile.clone(),
    };
    let mut trial = Box::pin(breaker.call(|| async move {
        let _torn_down = torn_down;
        std::future::pending::<Result<u32, Error>>().await
    }));
    assert!(poll_once(&mut trial).await.is_pending());
    assert_eq!(breaker.state(), HalfOpen);
    drop(trial);
    assert!(
        !admitted_meanwhile.load(Ordering::SeqCst),
        "a second trial was admitted while the cancelled one was being dropped"
    );
    // Once dropped, the slot is free again.
    assert_eq!(breaker.call(ok).await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed);
}

/// Opens `breaker` (fail_max 1), then lets its reset of one second pass.
async fn open_then_wait(breaker: &CircuitBreaker) {
    assert_down(breaker.call(down).await);
    assert_eq!(breaker.state(), Open);
    advance(secs(1)).await;
}

/// A trial admitted in an earlier HALF_OPEN period that finishes, or is cancelled, in a later
/// one counts for nothing there: it neither adds a success nor frees a slot it never took.
#[tokio::test(start_paused = true)]
async fn late_trials_of_an_earlier_half_open_period_count_for_nothing() {
    let breaker = CircuitBreaker::builder("late-trials")
        .fail_max(1)
        .reset(secs(1))
        .half_open(2)
        .build()
        .unwrap();
    open_then_wait(&breaker).await;
    // Period 1: trials `late` and `cancelled` are admitted, then a third fails: OPEN again.
    let (late_gate, late) = gated();
    let mut late = Box::pin(breaker.call(|| late));
    assert!(poll_once(&mut late).await.is_pending());
    let (failing_gate, failing) = gated();
    let mut failing = Box::pin(breaker.call(|| failing));
    assert!(poll_once(&mut failing).await.is_pending());
    failing_gate.send(Err(Error::Down)).unwrap();
    assert_down(failing.await);
    assert_eq!(breaker.state(), Open);
    advance(secs(1)).await;
    // Period 2: two trials take both slots.
    let (first_gate, first) = gated();
    let mut first = Box::pin(breaker.call(|| first));
    assert!(poll_once(&mut first).await.is_pending());
    let (second_gate, second) = gated();
    let mut second = Box::pin(breaker.call(|| second));
    assert!(poll_once(&mut second).await.is_pending());
    assert_eq!(
        open_for(breaker.call(ok).await, "late-trials"),
        Duration::ZERO
    );

    // The late trial of period 1 succeeds: not a success of period 2.
    late_gate.send(Ok(1)).unwrap();
    assert_eq!(late.await.unwrap(), 1);
    assert_eq!(
        open_for(breaker.call(ok).await, "late-trials"),
        Duration::ZERO,
        "the late trial freed no slot of period 2"
    );
    first_gate.send(Ok(1)).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(breaker.state(), HalfOpen, "one success of two, not two");
    second_gate.send(Ok(1)).unwrap();
    assert_eq!(second.await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed);
}

#[tokio::test(start_paused = true)]
async fn a_late_trial_cancelled_in_a_later_period_frees_no_slot_of_it() {
    let breaker = CircuitBreaker::builder("late-cancelled")
        .fail_max(1)
        .reset(secs(1))
        .half_open(1)
        .build()
        .unwrap();
    open_then_wait(&breaker).await;
    let mut stale = Box::pin(breaker.call(hanging));
    assert!(poll_once(&mut stale).await.is_pending());
    // Period 1 ends without it: forced open, then closed, tripped and half-open again.
    breaker.force_open();
    breaker.force_closed();
    open_then_wait(&breaker).await;
    let mut trial = Box::pin(breaker.call(hanging));
    assert!(poll_once(&mut trial).await.is_pending());
    drop(stale);
    assert_eq!(
        open_for(breaker.call(ok).await, "late-cancelled"),
        Duration::ZERO,
        "the one slot is still held"
    );
    drop(trial);
    assert_eq!(breaker.call(ok).await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed);
}

// ---------------------------------------------------------------------------------------------
// HALF_OPEN with a window: the trials' failure and slow rates decide (resilience4j), and each
// state keeps its own counts.
// ---------------------------------------------------------------------------------------------

#[staunch::circuit_breaker(
    name = "attr-half-open-rates",
    window = 20,
    min_calls = 5,
    slow_call = "4s",
    slow_rate = 50,
    half_open = 4,
    reset = "5s"
)]
async fn attr_half_open_rates(body: Body) -> Result<u32, Error> {
    body.await
}

/// Opens `attr_half_open_rates` with five failures and waits out `reset`.
async fn open_half_open_rates() {
    for _ in 0..5 {
        // Once enough calls failed, the rest are rejected.
        let _ = attr_half_open_rates(down()).await;
    }
    assert_eq!(handle("attr-half-open-rates").state(), Open);
    advance(secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_successful_trial_under_slow_rate_closes_a_window_breaker() {
    let breaker = handle_after(attr_half_open_rates(ok()), "attr-half-open-rates").await;
    open_half_open_rates().await;
    let call = async |body: Body| attr_half_open_rates(body).await;
    for _ in 0..3 {
        assert_eq!(timed(&call, secs(1)).await.unwrap(), 1);
        assert_eq!(breaker.state(), HalfOpen);
    }
    assert_eq!(timed(&call, secs(5)).await.unwrap(), 1);
    assert_eq!(breaker.state(), Closed, "25 % slow trials is under 50 %");

    open_half_open_rates().await;
    for d in [1, 5, 1, 5] {
        assert_eq!(timed(&call, secs(d)).await.unwrap(), 1);
    }
    assert_eq!(breaker.state(), Open, "50 % slow trials reach `slow_rate`");
}

#[tokio::test(start_paused = true)]
async fn a_window_breaker_decides_on_the_failure_rate_of_its_trials() {
    let breaker = CircuitBreaker::builder("builder-half-open-failures")
        .window(10)
        .min_calls(2)
        .failure_rate(50)
        .half_open(4)
        .reset(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    let trip = async || {
        assert_down(call(down()).await);
        assert_down(call(down()).await);
        assert_eq!(breaker.state(), Open);
        advance(secs(1)).await;
    };
    trip().await;
    assert_down(call(down()).await);
    assert_eq!(
        breaker.state(),
        HalfOpen,
        "a failed trial does not reopen a window breaker by itself"
    );
    for _ in 0..3 {
        assert_eq!(call(ok()).await.unwrap(), 1);
    }
    assert_eq!(breaker.state(), Closed, "one failure in four trials: 25 %");

    trip().await;
    for body in [ok(), down(), ok(), down()] {
        let _ = call(body).await;
    }
    assert_eq!(breaker.state(), Open, "two in four: 50 % reopens it");
}

/// The handle of a breaker created by the first call of an annotated function.
async fn handle_after(
    first: impl Future<Output = Result<u32, Error>>,
    name: &str,
) -> &'static CircuitBreaker {
    first.await.unwrap();
    handle(name)
}

#[tokio::test(start_paused = true)]
async fn half_open_reports_its_trials_not_the_closed_window_or_the_open_rejections() {
    let breaker = CircuitBreaker::builder("builder-half-open-metrics")
        .window(4)
        .min_calls(2)
        .failure_rate(50)
        .half_open(3)
        .reset(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_down(call(down()).await);
    open_for(call(ok()).await, "builder-half-open-metrics");
    let open = breaker.metrics();
    assert_eq!(
        (
            open.state,
            open.window_calls,
            open.failure_rate,
            open.rejected
        ),
        (Open, 2, Some(50.0), 1),
        "OPEN keeps the window that opened it and counts its rejections"
    );

    advance(secs(1)).await;
    let mut trial = Box::pin(call(hanging()));
    assert!(poll_once(&mut trial).await.is_pending());
    let half_open = breaker.metrics();
    assert_eq!(
        (
            half_open.state,
            half_open.window_calls,
            half_open.failure_rate,
            half_open.rejected,
            half_open.rejected_total
        ),
        (HalfOpen, 0, None, 0, 1),
        "HALF_OPEN starts counting its own trials and rejections"
    );
    drop(trial);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker.metrics().window_calls, 1, "one trial completed");

    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(call(ok()).await.unwrap(), 1);
    let closed = breaker.metrics();
    assert_eq!(
        (closed.state, closed.window_calls, closed.failure_rate),
        (Closed, 0, None),
        "closing starts a fresh window"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_counts_as_one_more_consecutive_failure() {
    let breaker = CircuitBreaker::builder("builder-failed-trial-count")
        .fail_max(3)
        .reset(secs(1))
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    for _ in 0..3 {
        assert_down(call(down()).await);
    }
    assert_eq!(breaker.metrics().consecutive_failures, 3);
    advance(secs(1)).await;
    assert_down(call(down()).await);
    let m = breaker.metrics();
    assert_eq!(
        (m.state, m.consecutive_failures),
        (Open, 4),
        "as pybreaker counts it"
    );
    advance(secs(1)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(
        breaker.metrics().consecutive_failures,
        0,
        "closing clears it"
    );
}

#[test]
fn a_forced_open_breaker_reports_forced_open_and_serializes_as_such() {
    let breaker = CircuitBreaker::builder("builder-forced-state")
        .build()
        .unwrap();
    breaker.force_open();
    assert_eq!(breaker.state(), ForcedOpen);
    assert_eq!(breaker.metrics().state, ForcedOpen);
    assert_eq!(
        serde_json::to_value(breaker.metrics()).unwrap()["state"],
        "forced_open"
    );
    breaker.force_closed();
    assert_eq!(breaker.state(), Closed);
}

// ---------------------------------------------------------------------------------------------
// Settings changed while the breaker runs.
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_threshold_lowered_mid_run_judges_the_failures_counted_so_far() {
    let breaker = CircuitBreaker::builder("retuned-fail-max")
        .fail_max(5)
        .build()
        .unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_down(call(down()).await);
    let stricter = CircuitBreaker::builder("retuned-fail-max")
        .fail_max(2)
        .config()
        .unwrap();
    breaker.reconfigure(stricter).unwrap();
    assert_eq!(breaker.state(), Closed);
    assert_down(call(down()).await);
    assert_eq!(
        breaker.state(),
        Open,
        "the second failure in a row reaches 2"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_stays_open_for_the_reset_it_opened_with() {
    let builder = || CircuitBreaker::builder("retuned-reset").fail_max(1);
    let breaker = builder().reset(secs(10)).build().unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_down(call(down()).await);
    breaker
        .reconfigure(builder().reset(secs(1)).config().unwrap())
        .unwrap();
    advance(secs(1)).await;
    open_for(call(ok()).await, "retuned-reset");
    advance(secs(9)).await;
    assert_eq!(call(ok()).await.unwrap(), 1, "the trial closes it");
    assert_down(call(down()).await);
    advance(secs(1)).await;
    assert_eq!(
        call(ok()).await.unwrap(),
        1,
        "opened again, it waits the new reset"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_rate_raised_mid_run_keeps_the_window() {
    let builder = || {
        CircuitBreaker::builder("retuned-rate")
            .window(4)
            .min_calls(4)
    };
    let breaker = builder().failure_rate(50).build().unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    for body in [ok(), down(), ok()] {
        let _ = call(body).await;
    }
    breaker
        .reconfigure(builder().failure_rate(75).config().unwrap())
        .unwrap();
    assert_down(call(down()).await);
    assert_eq!(breaker.metrics().window_calls, 4, "the window is kept");
    assert_eq!(breaker.state(), Closed, "50 % is under the new 75 %");
    assert_down(call(down()).await);
    assert_eq!(breaker.state(), Open, "75 % reaches it");
}

#[test]
fn another_trip_policy_window_or_name_is_refused_and_changes_nothing() {
    let breaker = CircuitBreaker::builder("retuned-refused")
        .window(10)
        .build()
        .unwrap();
    let before = breaker.config();
    for config in [
        CircuitBreaker::builder("retuned-refused")
            .fail_max(3)
            .config(),
        CircuitBreaker::builder("retuned-refused")
            .window(20)
            .config(),
        CircuitBreaker::builder("another").window(10).config(),
    ] {
        assert!(matches!(
            breaker.reconfigure(config.unwrap()),
            Err(ConfigError::Conflict(..) | ConfigError::Running { .. })
        ));
    }
    assert_eq!(breaker.config(), before);
}

#[test]
fn a_change_of_breaker_settings_is_an_event_with_old_and_new_values() {
    let breaker = CircuitBreaker::builder("retuned-event")
        .fail_max(5)
        .build()
        .unwrap();
    let mut events = breaker.events();
    breaker
        .reconfigure(
            CircuitBreaker::builder("retuned-event")
                .fail_max(3)
                .config()
                .unwrap(),
        )
        .unwrap();
    match events.try_recv().unwrap() {
        staunch::Event::SettingsChanged { old, new, .. } => {
            assert_eq!((&old["fail_max"], &new["fail_max"]), (&5.into(), &3.into()));
            assert_eq!(new["reset"], "1m", "in the settings' literal forms");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_name_read_at_run_time_names_a_shared_breaker() {
    let tenant = 7;
    let breaker = CircuitBreaker::builder(format!("tenant-{tenant}-payments"))
        .fail_max(2)
        .build_shared()
        .unwrap();
    assert_eq!(breaker.name(), "tenant-7-payments");
    assert!(std::ptr::eq(
        breaker,
        staunch::breaker("tenant-7-payments").unwrap()
    ));
    let again = CircuitBreaker::builder(String::from("tenant-7-payments"))
        .fail_max(2)
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(breaker, again), "one instance per name");
}

#[tokio::test(start_paused = true)]
async fn fewer_trials_set_while_half_open_decide_the_period_at_once() {
    let builder = || {
        CircuitBreaker::builder("retuned-half-open")
            .fail_max(1)
            .reset(secs(1))
    };
    let breaker = builder().half_open(3).build().unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    assert_down(call(down()).await);
    advance(secs(1)).await;
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(breaker.state(), HalfOpen, "two of three trials");
    breaker
        .reconfigure(builder().half_open(2).config().unwrap())
        .unwrap();
    assert_eq!(
        breaker.state(),
        Closed,
        "two successful trials are enough now: never wedged"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_tracked_from_a_change_on_count_from_the_next_call() {
    let builder = || {
        CircuitBreaker::builder("retuned-slow")
            .window(2)
            .min_calls(2)
            .failure_rate(100)
    };
    let breaker = builder().build().unwrap();
    let call = async |body: Body| breaker.call_classified(|| body).await;
    timed(&call, secs(5)).await.unwrap();
    call(ok()).await.unwrap();
    assert_eq!(breaker.state(), Closed, "slow calls not tracked yet");
    breaker
        .reconfigure(builder().slow_call(secs(1)).slow_rate(50).config().unwrap())
        .unwrap();
    timed(&call, secs(2)).await.unwrap();
    assert_eq!(breaker.state(), Open, "one slow call of two reaches 50 %");
}

#[test]
fn a_call_site_naming_a_retuned_breaker_with_its_first_settings_is_no_conflict() {
    let builder = |fail_max| CircuitBreaker::builder("retuned-no-conflict").fail_max(fail_max);
    let breaker = builder(5).build_shared().unwrap();
    let mut events = breaker.events();
    breaker.reconfigure(builder(2).config().unwrap()).unwrap();
    let _ = events.try_recv();
    builder(5).build_shared().unwrap();
    assert!(
        events.try_recv().is_err(),
        "settings applied at run time win over the literals, silently"
    );
    builder(7).build_shared().unwrap();
    assert!(matches!(
        events.try_recv(),
        Ok(staunch::Event::SettingsConflict { .. })
    ));
    assert_eq!(breaker.config(), builder(2).config().unwrap());
}
