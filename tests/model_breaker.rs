//! The circuit breaker against a reference model: random sequences of calls (instant, slow, held
//! in flight then finished or cancelled), time passing, `force_open`, `force_closed` and `reset`
//! are applied to a real breaker on paused tokio time and to a plain state machine written from
//! the spec (§2.4). After every step both must agree on the state, on which calls were admitted
//! or refused (and the `retry_in` of each refusal), and on the counters of `metrics()`.
//!
//! `PROPTEST_CASES=5000 cargo test --test model_breaker` searches harder than the default run.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use staunch::{CircuitBreaker, CircuitState, Rejected};
use tokio::sync::oneshot;

mod support;
use support::Error;

// ---------------------------------------------------------------------------------------------
// What is generated.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Trip {
    Consecutive {
        fail_max: u32,
    },
    Rate {
        window: u32,
        failure_rate: u8,
        min_calls: u32,
    },
}

#[derive(Debug, Clone, Copy)]
struct Config {
    trip: Trip,
    /// `slow_call` in ms and `slow_rate` (only with a window, as the builder requires).
    slow: Option<(u64, u8)>,
    reset_ms: u64,
    half_open: u16,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A call that succeeds at once.
    Success,
    /// A call that fails at once.
    Failure,
    /// A call that succeeds after this many ms of tokio time.
    SlowSuccess(u64),
    /// `tokio::time::advance` by this many ms.
    Advance(u64),
    /// A call that stays in flight until finished or cancelled.
    Start,
    /// Finishes the in-flight call at this index (modulo their number): `true` for a success.
    Finish(usize, bool),
    /// Drops the in-flight call at this index (modulo their number) unfinished.
    Cancel(usize),
    ForceOpen,
    ForceClosed,
    Reset,
}

fn config() -> impl Strategy<Value = Config> {
    let consecutive = (1..=4u32).prop_map(|fail_max| (Trip::Consecutive { fail_max }, None));
    let rate = (1..=6u32, 1..=100u8, any::<prop::sample::Index>()).prop_flat_map(
        |(window, failure_rate, min)| {
            let min_calls = 1 + u32::try_from(min.index(window as usize)).unwrap();
            let trip = Trip::Rate {
                window,
                failure_rate,
                min_calls,
            };
            (Just(trip), prop::option::of((1..=40u64, 1..=100u8)))
        },
    );
    (prop_oneof![consecutive, rate], 1..=100u64, 1..=3u16).prop_map(
        |((trip, slow), reset_ms, half_open)| Config {
            trip,
            slow,
            reset_ms,
            half_open,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Success),
        4 => Just(Op::Failure),
        2 => (1..=50u64).prop_map(Op::SlowSuccess),
        3 => prop_oneof![1..=20u64, 1..=150u64].prop_map(Op::Advance),
        4 => Just(Op::Start),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(i, ok)| Op::Finish(i, ok)),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::ForceClosed),
        1 => Just(Op::Reset),
    ]
}

// ---------------------------------------------------------------------------------------------
// The reference model, written from the spec and nothing else.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open,
    /// Trials in flight, and of the completed ones how many failed and were slow.
    HalfOpen {
        in_flight: u16,
        completed: u16,
        failed: u16,
        slow: u16,
    },
    ForcedOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Closed,
    /// A trial of this half-open period.
    Trial(u64),
}

/// One recorded outcome in the failure-rate window.
#[derive(Debug, Clone, Copy)]
struct Recorded {
    failed: bool,
    slow: bool,
}

#[derive(Debug)]
struct Model {
    config: Config,
    /// Tokio time since the start, in ns.
    now: u64,
    state: State,
    /// +1 on every change of period (every transition, and every forced one).
    period: u64,
    open_until: u64,
    consecutive: u32,
    window: VecDeque<Recorded>,
    failures: u64,
    /// Rejections since the start, and in the current state.
    rejected_total: u64,
    rejected: u64,
    transitions: u64,
}

fn ms(n: u64) -> u64 {
    n * 1_000_000
}

const HALF_OPEN: State = State::HalfOpen {
    in_flight: 1,
    completed: 0,
    failed: 0,
    slow: 0,
};

impl Model {
    fn new(config: Config) -> Self {
        Self {
            config,
            now: 0,
            state: State::Closed,
            period: 0,
            open_until: 0,
            consecutive: 0,
            window: VecDeque::new(),
            failures: 0,
            rejected_total: 0,
            rejected: 0,
            transitions: 0,
        }
    }

    fn public_state(&self) -> CircuitState {
        match self.state {
            State::Closed => CircuitState::Closed,
            State::Open => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
            State::ForcedOpen => CircuitState::ForcedOpen,
        }
    }

    /// A new period in `to`; each state keeps its own counts.
    fn enter(&mut self, to: State) {
        if std::mem::discriminant(&self.state) != std::mem::discriminant(&to) {
            self.transitions += 1;
            self.rejected = 0;
        }
        self.state = to;
        self.period += 1;
        if to == State::Closed {
            self.consecutive = 0;
            self.window.clear();
        }
    }

    fn open(&mut self) {
        self.open_until = self.now + ms(self.config.reset_ms);
        self.enter(State::Open);
    }

    fn refuse(&mut self, retry_in: u64) -> Result<Admission, u64> {
        self.rejected += 1;
        self.rejected_total += 1;
        Err(retry_in)
    }

    /// Admits a call, or refuses it with its `retry_in` in ns.
    fn admit(&mut self) -> Result<Admission, u64> {
        match self.state {
            State::Closed => Ok(Admission::Closed),
            State::ForcedOpen => self.refuse(ms(self.config.reset_ms)),
            State::Open if self.now < self.open_until => self.refuse(self.open_until - self.now),
            State::Open => {
                self.enter(HALF_OPEN);
                Ok(Admission::Trial(self.period))
            }
            State::HalfOpen {
                in_flight,
                completed,
                failed,
                slow,
            } => {
                if in_flight + completed >= self.config.half_open {
                    return self.refuse(0);
                }
                self.state = State::HalfOpen {
                    in_flight: in_flight + 1,
                    completed,
                    failed,
                    slow,
                };
                Ok(Admission::Trial(self.period))
            }
        }
    }

    /// A call admitted as `admission` at `started` finished now.
    fn finish(&mut self, admission: Admission, started: u64, ok: bool) {
        // Strictly longer than `slow_call`.
        let slow = self
            .config
            .slow
            .is_some_and(|(after, _)| self.now - started > ms(after));
        if !ok {
            self.failures += 1;
        }
        match admission {
            Admission::Closed => self.record_closed(ok, slow),
            Admission::Trial(period) => {
                let State::HalfOpen {
                    in_flight,
                    completed,
                    failed,
                    slow: slow_trials,
                } = self.state
                else {
                    return;
                };
                if period != self.period {
                    return;
                }
                match self.config.trip {
                    // pybreaker: a failing trial reopens at once and is one more failure in a
                    // row; `half_open` successes close.
                    Trip::Consecutive { .. } if !ok => {
                        self.consecutive += 1;
                        self.open();
                    }
                    Trip::Consecutive { .. } if completed + 1 >= self.config.half_open => {
                        self.enter(State::Closed);
                    }
                    // resilience4j: the trials' rates decide once `half_open` have completed.
                    Trip::Rate { failure_rate, .. } if completed + 1 >= self.config.half_open => {
                        let trials = u64::from(self.config.half_open);
                        let over =
                            |part: u16, rate: u8| u64::from(part) * 100 >= u64::from(rate) * trials;
                        let failed = failed + u16::from(!ok);
                        let slow_trials = slow_trials + u16::from(slow);
                        if over(failed, failure_rate)
                            || self
                                .config
                                .slow
                                .is_some_and(|(_, rate)| over(slow_trials, rate))
                        {
                            self.open();
                        } else {
                            self.enter(State::Closed);
                        }
                    }
                    _ => {
                        self.state = State::HalfOpen {
                            in_flight: in_flight - 1,
                            completed: completed + 1,
                            failed: failed + u16::from(!ok),
                            slow: slow_trials + u16::from(slow),
                        };
                    }
                }
            }
        }
    }

    /// An outcome of a call admitted while CLOSED: counted even if the breaker has moved on
    /// since, but only a CLOSED breaker opens.
    fn record_closed(&mut self, ok: bool, slow: bool) {
        let opens = match self.config.trip {
            Trip::Consecutive { fail_max } => {
                if ok {
                    self.consecutive = 0;
                    false
                } else {
                    self.consecutive += 1;
                    self.consecutive >= fail_max
                }
            }
            Trip::Rate {
                window,
                failure_rate,
                min_calls,
            } => {
                self.window.push_back(Recorded { failed: !ok, slow });
                if self.window.len() > window as usize {
                    self.window.pop_front();
                }
                let calls = self.window.len() as u64;
                let failed = self.window.iter().filter(|r| r.failed).count() as u64;
                let slow = self.window.iter().filter(|r| r.slow).count() as u64;
                let over = |part: u64, rate: u8| part * 100 >= u64::from(rate) * calls;
                calls >= u64::from(min_calls)
                    && (over(failed, failure_rate)
                        || self.config.slow.is_some_and(|(_, rate)| over(slow, rate)))
            }
        };
        if opens && self.state == State::Closed {
            self.open();
        }
    }

    /// A call dropped before it finished gives its trial slot back.
    fn cancel(&mut self, admission: Admission) {
        if let (Admission::Trial(period), State::HalfOpen { in_flight, .. }) =
            (admission, &mut self.state)
            && period == self.period
        {
            *in_flight -= 1;
        }
    }

    fn force_open(&mut self) {
        self.enter(State::ForcedOpen);
    }

    fn force_closed(&mut self) {
        self.enter(State::Closed);
    }

    fn reset(&mut self) {
        self.force_closed();
        self.failures = 0;
        self.rejected = 0;
        self.rejected_total = 0;
        self.transitions = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// The real breaker, driven step by step.
// ---------------------------------------------------------------------------------------------

fn build(config: &Config) -> CircuitBreaker {
    let mut builder = CircuitBreaker::builder("model")
        .reset(Duration::from_millis(config.reset_ms))
        .half_open(config.half_open);
    builder = match config.trip {
        Trip::Consecutive { fail_max } => builder.fail_max(fail_max),
        Trip::Rate {
            window,
            failure_rate,
            min_calls,
        } => builder
            .window(window)
            .failure_rate(failure_rate)
            .min_calls(min_calls),
    };
    if let Some((after, rate)) = config.slow {
        builder = builder
            .slow_call(Duration::from_millis(after))
            .slow_rate(rate);
    }
    builder.build().expect("generated configs are valid")
}

type Call<'b> = Pin<Box<dyn Future<Output = Result<u32, Error>> + 'b>>;

struct InFlight<'b> {
    gate: oneshot::Sender<Result<u32, Error>>,
    call: Call<'b>,
    admission: Admission,
    started: u64,
}

fn poll_once(call: &mut Call<'_>) -> Poll<Result<u32, Error>> {
    call.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// The model's verdict and the real call's first result agree.
fn check_admission(
    step: usize,
    model: Result<Admission, u64>,
    real: &Poll<Result<u32, Error>>,
) -> Result<(), TestCaseError> {
    match (model, real) {
        (Ok(_), Poll::Pending | Poll::Ready(Ok(_) | Err(Error::Down))) => Ok(()),
        (
            Err(retry_in),
            Poll::Ready(Err(Error::Rejected(Rejected::CircuitOpen { retry_in: r, .. }))),
        ) if *r == Duration::from_nanos(retry_in) => Ok(()),
        _ => Err(TestCaseError::fail(format!(
            "step {step}: the model says {model:?}, the breaker {real:?}"
        ))),
    }
}

fn check_agreement(step: usize, model: &Model, real: &CircuitBreaker) -> Result<(), TestCaseError> {
    let metrics = real.metrics();
    // The current state's calls: the window, or in HALF_OPEN the completed trials; and the
    // number of calls from which their rates are judged (and reported).
    let (consecutive, calls, failed, slow, judged_from) = match (model.config.trip, model.state) {
        (Trip::Consecutive { .. }, _) => (model.consecutive, 0, 0, 0, None),
        (
            Trip::Rate { .. },
            State::HalfOpen {
                completed,
                failed,
                slow,
                ..
            },
        ) => (
            0,
            u32::from(completed),
            u32::from(failed),
            u32::from(slow),
            Some(u32::from(model.config.half_open)),
        ),
        (Trip::Rate { min_calls, .. }, _) => (
            0,
            u32::try_from(model.window.len()).unwrap(),
            u32::try_from(model.window.iter().filter(|r| r.failed).count()).unwrap(),
            u32::try_from(model.window.iter().filter(|r| r.slow).count()).unwrap(),
            Some(min_calls),
        ),
    };
    prop_assert_eq!(
        (
            real.state(),
            metrics.failures,
            metrics.rejected,
            metrics.rejected_total,
            metrics.transitions,
            metrics.consecutive_failures,
            metrics.window_calls,
        ),
        (
            model.public_state(),
            model.failures,
            model.rejected,
            model.rejected_total,
            model.transitions,
            consecutive,
            calls,
        ),
        "step {}: (state, failures, rejected, rejected total, transitions, consecutive, calls); model {:?}",
        step,
        model
    );
    // Rates once `min_calls` are recorded (the slow rate only when tracked).
    let judged = judged_from.is_some_and(|min| calls > 0 && calls >= min);
    let rate = |part: u32| judged.then(|| f64::from(part) * 100.0 / f64::from(calls));
    let slow_rate = rate(slow).filter(|_| model.config.slow.is_some());
    prop_assert_eq!(
        (metrics.failure_rate, metrics.slow_rate),
        (rate(failed), slow_rate),
        "step {}: (failure rate, slow rate)",
        step
    );
    Ok(())
}

async fn run(config: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let breaker = build(&config);
    let mut model = Model::new(config);
    let mut in_flight: Vec<InFlight<'_>> = Vec::new();
    let origin = tokio::time::Instant::now();
    let now = || u64::try_from(origin.elapsed().as_nanos()).unwrap();

    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Success | Op::Failure => {
                let ok = matches!(op, Op::Success);
                let verdict = model.admit();
                let result = breaker
                    .call(|| async move { if ok { Ok(1) } else { Err(Error::Down) } })
                    .await;
                check_admission(step, verdict, &Poll::Ready(result))?;
                if let Ok(admission) = verdict {
                    model.finish(admission, model.now, ok);
                }
            }
            Op::SlowSuccess(d) => {
                let verdict = model.admit();
                let result = breaker
                    .call(|| async move {
                        tokio::time::sleep(Duration::from_millis(d)).await;
                        Ok(1)
                    })
                    .await;
                check_admission(step, verdict, &Poll::Ready(result))?;
                if let Ok(admission) = verdict {
                    let started = model.now;
                    model.now += ms(d);
                    model.finish(admission, started, true);
                }
            }
            Op::Advance(d) => {
                tokio::time::advance(Duration::from_millis(d)).await;
                model.now += ms(d);
            }
            Op::Start => {
                let (gate, rx) = oneshot::channel();
                let mut call: Call<'_> =
                    Box::pin(breaker.call(|| async move { rx.await.expect("the gate is kept") }));
                let verdict = model.admit();
                let first = poll_once(&mut call);
                check_admission(step, verdict, &first)?;
                if let Ok(admission) = verdict {
                    prop_assert!(first.is_pending(), "step {}: a gated call finished", step);
                    in_flight.push(InFlight {
                        gate,
                        call,
                        admission,
                        started: model.now,
                    });
                }
            }
            Op::Finish(i, ok) => {
                if in_flight.is_empty() {
                    continue;
                }
                let mut call = in_flight.swap_remove(i % in_flight.len());
                let _ = call.gate.send(if ok { Ok(1) } else { Err(Error::Down) });
                let result = poll_once(&mut call.call);
                prop_assert!(
                    matches!(
                        (&result, ok),
                        (Poll::Ready(Ok(1)), true) | (Poll::Ready(Err(Error::Down)), false)
                    ),
                    "step {}: a finished call returned {:?}",
                    step,
                    result
                );
                model.finish(call.admission, call.started, ok);
            }
            Op::Cancel(i) => {
                if in_flight.is_empty() {
                    continue;
                }
                let call = in_flight.swap_remove(i % in_flight.len());
                drop(call.call);
                model.cancel(call.admission);
            }
            Op::ForceOpen => {
                breaker.force_open();
                model.force_open();
            }
            Op::ForceClosed => {
                breaker.force_closed();
                model.force_closed();
            }
            Op::Reset => {
                breaker.reset();
                model.reset();
            }
        }
        prop_assert_eq!(
            now(),
            model.now,
            "step {}: tokio time drifted from the model",
            step
        );
        check_agreement(step, &model, &breaker)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_breaker_agrees_with_the_model_at_every_step(
        config in config(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run(config, ops))?;
    }
}
