//! Model checking of the lock-free parts with loom: every interleaving of a few threads (up to
//! a preemption bound) through the breaker's word, the bulkhead's counter and the rate
//! limiter's arrival time.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p staunch-runtime --release --test loom
//! ```
//!
//! Under `--cfg loom` the runtime takes its atomics from loom (`src/sync.rs`) and reads a clock
//! that only the test moves (`__loom::set_clock`), so each execution is deterministic. The
//! clock stands still during a model: that an OPEN period lasts `reset` from the instant it
//! opened is checked against one reading, not against racing readings of a moving clock.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use staunch_runtime::{__loom, Bulkhead, CircuitBreaker, CircuitState, RateLimiter, Rejected};
use tokio::sync::broadcast::error::TryRecvError;

#[derive(Debug)]
enum Error {
    Down,
    Rejected(Rejected),
}

impl From<Rejected> for Error {
    fn from(rejected: Rejected) -> Self {
        Self::Rejected(rejected)
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    // Two preemptions find the orderings these models were written for (a cancelled trial
    // racing a new one among them) in seconds; three take minutes.
    builder.preemption_bound.get_or_insert(2);
    builder.check(f);
}

/// Calls inside a body right now, checked against `limit` on every entry.
struct Occupancy {
    inside: AtomicUsize,
    limit: usize,
}

/// Held by a body while it runs, as the work a slot or a trial protects.
struct Inside<'a>(&'a Occupancy);

impl Occupancy {
    fn new(limit: usize) -> Self {
        Self {
            inside: AtomicUsize::new(0),
            limit,
        }
    }

    fn enter(&self) -> Inside<'_> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(
            now <= self.limit,
            "{now} calls inside, limit {}",
            self.limit
        );
        Inside(self)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The output of a call whose body never waits: every step is an atomic operation, which is
/// where loom switches threads, so one poll runs it to the end.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a call that never waits was pending"),
    }
}

/// Polls `future` once and drops it, as a caller cancelled at its first `.await` does.
/// Returns whether it was still pending (admitted, and then cancelled).
fn poll_once_then_drop<F: Future>(future: F) -> bool {
    let mut future = pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
}

/// A breaker or a bulkhead: what a call goes through.
trait Guard: Send + Sync + 'static {
    fn run<Fut>(&self, body: impl FnOnce() -> Fut) -> impl Future<Output = Result<(), Error>>
    where
        Fut: Future<Output = Result<(), Error>>;
}

impl Guard for CircuitBreaker {
    fn run<Fut>(&self, body: impl FnOnce() -> Fut) -> impl Future<Output = Result<(), Error>>
    where
        Fut: Future<Output = Result<(), Error>>,
    {
        self.call(body)
    }
}

impl Guard for Bulkhead {
    fn run<Fut>(&self, body: impl FnOnce() -> Fut) -> impl Future<Output = Result<(), Error>>
    where
        Fut: Future<Output = Result<(), Error>>,
    {
        self.call(body)
    }
}

/// Two callers whose bodies finish and a third cancelled inside its body race through
/// `guard`, every body counted by `occupancy`. Returns how many of the two got through and
/// whether the cancelled one had been let in.
fn two_finish_one_cancelled<G: Guard>(guard: &Arc<G>, occupancy: &Arc<Occupancy>) -> (usize, bool) {
    let finishing: Vec<_> = (0..2)
        .map(|_| {
            let (guard, occupancy) = (guard.clone(), occupancy.clone());
            thread::spawn(move || {
                ready(guard.run(|| async {
                    let _inside = occupancy.enter();
                    Ok(())
                }))
                .is_ok()
            })
        })
        .collect();
    let cancelled = {
        let (guard, occupancy) = (guard.clone(), occupancy.clone());
        thread::spawn(move || {
            poll_once_then_drop(guard.run(|| async {
                let _inside = occupancy.enter();
                std::future::pending().await
            }))
        })
    };
    let through = finishing
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|ok| *ok)
        .count();
    (through, cancelled.join().unwrap())
}

/// A thread calling through `breaker` a body that answers `answer`.
fn spawn_call(
    breaker: &Arc<CircuitBreaker>,
    answer: Result<(), Error>,
) -> thread::JoinHandle<Result<(), Error>> {
    let breaker = breaker.clone();
    thread::spawn(move || ready(breaker.call(move || async move { answer })))
}

/// Failures racing in CLOSED open the breaker exactly once: one transition, one event, and
/// the open period is `reset` long from the instant it opened.
#[test]
fn concurrent_failures_open_the_breaker_exactly_once() {
    model(|| {
        __loom::set_clock(1_000);
        let breaker = Arc::new(
            CircuitBreaker::builder("loom-trip")
                .fail_max(2)
                .reset(Duration::from_secs(10))
                .build()
                .unwrap(),
        );
        let mut events = breaker.subscribe();
        let threads: Vec<_> = (0..3)
            .map(|_| spawn_call(&breaker, Err(Error::Down)))
            .collect();
        let admitted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|r| matches!(r, Err(Error::Down)))
            .count();
        assert!(admitted >= 2, "two failures are needed to open it");
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.metrics().transitions, 1);
        let event = events.try_recv().expect("one transition");
        assert_eq!(
            (event.from, event.to),
            (CircuitState::Closed, CircuitState::Open)
        );
        assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
        match ready(breaker.call(|| async { Ok::<_, Error>(()) })) {
            Err(Error::Rejected(Rejected::CircuitOpen { retry_in, .. })) => {
                assert_eq!(retry_in, Duration::from_secs(10));
            }
            other => panic!("expected CircuitOpen, got {other:?}"),
        }
    });
}

/// Opens a breaker of `half_open` trials and lets its reset pass.
fn half_open_breaker(half_open: u16) -> Arc<CircuitBreaker> {
    __loom::set_clock(1_000);
    let breaker = CircuitBreaker::builder("loom-half-open")
        .fail_max(1)
        .reset(Duration::from_secs(1))
        .half_open(half_open)
        .build()
        .unwrap();
    let _ = ready(breaker.call(|| async { Err::<(), _>(Error::Down) }));
    assert_eq!(breaker.state(), CircuitState::Open);
    __loom::set_clock(1_000 + 1_000_000_000);
    Arc::new(breaker)
}

/// Three callers race into HALF_OPEN with two trials, one of them cancelled mid-call: never
/// more than two trial bodies run at once (a cancelled trial's body is gone before its slot
/// is given back), and at the end no slot is held.
#[test]
fn half_open_never_admits_more_than_its_trials_and_releases_each_once() {
    model(|| {
        let breaker = half_open_breaker(2);
        let occupancy = Arc::new(Occupancy::new(2));
        let (succeeded, _) = two_finish_one_cancelled(&breaker, &occupancy);
        assert_eq!(occupancy.inside.load(Ordering::SeqCst), 0);
        let (in_flight, _) = breaker.__trials();
        assert_eq!(in_flight, 0, "every trial slot was given back exactly once");
        match breaker.state() {
            CircuitState::Closed => assert_eq!(succeeded, 2),
            CircuitState::HalfOpen => assert!(succeeded < 2),
            CircuitState::Open | CircuitState::ForcedOpen => panic!("no trial failed"),
        }
    });
}

/// A trial failing while another succeeds and a third is cancelled: the breaker reopens once,
/// and the late trials of the finished period touch nothing of the next one.
#[test]
fn a_failing_trial_reopens_once_and_stale_trials_do_not_leak_into_the_next_period() {
    model(|| {
        let breaker = half_open_breaker(3);
        let failing = spawn_call(&breaker, Err(Error::Down));
        let succeeding = spawn_call(&breaker, Ok(()));
        let cancelled = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                poll_once_then_drop(breaker.call(|| std::future::pending::<Result<(), Error>>()))
            })
        };
        let failed = matches!(failing.join().unwrap(), Err(Error::Down));
        let _ = succeeding.join().unwrap();
        cancelled.join().unwrap();
        assert_eq!(
            breaker.__trials(),
            (0, 0),
            "nothing counted in the new period"
        );
        if failed {
            assert_eq!(breaker.state(), CircuitState::Open);
            // Closed → Open, Open → HalfOpen, HalfOpen → Open.
            assert_eq!(breaker.metrics().transitions, 3);
        }
    });
}

/// Three callers race for two slots, one cancelled mid-call: never more than two inside, and
/// every slot is free at the end.
#[test]
fn the_bulkhead_never_exceeds_its_limit_nor_loses_a_slot() {
    model(|| {
        let bulkhead = Arc::new(Bulkhead::builder(2).name("loom").build().unwrap());
        let occupancy = Arc::new(Occupancy::new(2));
        let (through, held) = two_finish_one_cancelled(&bulkhead, &occupancy);
        // Only a third caller can have found both slots taken.
        assert!(through + usize::from(held) >= 2);
        assert_eq!(occupancy.inside.load(Ordering::SeqCst), 0);
        assert_eq!(bulkhead.metrics().in_flight, 0, "a slot was lost");
    });
}

/// Two callers racing through `bulkhead`, every body counted by `occupancy`.
fn two_callers(
    bulkhead: &Arc<Bulkhead>,
    occupancy: &Arc<Occupancy>,
) -> Vec<thread::JoinHandle<Result<(), Error>>> {
    (0..2)
        .map(|_| {
            let (bulkhead, occupancy) = (bulkhead.clone(), occupancy.clone());
            thread::spawn(move || {
                ready(bulkhead.call(|| async {
                    let _inside = occupancy.enter();
                    Ok::<_, Error>(())
                }))
            })
        })
        .collect()
}

/// A limit of one: two callers, each gets the slot or is refused, and the slot comes back.
#[test]
fn a_single_slot_is_never_shared() {
    model(|| {
        let bulkhead = Arc::new(Bulkhead::builder(1).name("loom-one").build().unwrap());
        let occupancy = Arc::new(Occupancy::new(1));
        let threads = two_callers(&bulkhead, &occupancy);
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(results.iter().any(Result::is_ok));
        for result in results {
            assert!(
                matches!(
                    result,
                    Ok(()) | Err(Error::Rejected(Rejected::BulkheadFull { .. }))
                ),
                "{result:?}"
            );
        }
        assert_eq!(bulkhead.metrics().in_flight, 0);
    });
}

/// A window breaker's two trials finish at once, one failing: whichever completes the period
/// sees both outcomes, so 50 % failed trials reopen it exactly once, whatever the order.
#[test]
fn a_window_breaker_decides_half_open_once_on_every_trial() {
    model(|| {
        __loom::set_clock(1_000);
        let breaker = CircuitBreaker::builder("loom-window-half-open")
            .window(2)
            .min_calls(1)
            .failure_rate(50)
            .reset(Duration::from_secs(1))
            .half_open(2)
            .build()
            .unwrap();
        let _ = ready(breaker.call(|| async { Err::<(), _>(Error::Down) }));
        assert_eq!(breaker.state(), CircuitState::Open);
        __loom::set_clock(1_000 + 1_000_000_000);
        let breaker = Arc::new(breaker);
        let failing = spawn_call(&breaker, Err(Error::Down));
        let succeeding = spawn_call(&breaker, Ok(()));
        assert!(matches!(failing.join().unwrap(), Err(Error::Down)));
        assert!(succeeding.join().unwrap().is_ok());
        assert_eq!(breaker.state(), CircuitState::Open);
        // Closed → Open, Open → HalfOpen, HalfOpen → Open.
        assert_eq!(breaker.metrics().transitions, 3);
        assert_eq!(breaker.__trials(), (0, 0));
    });
}

/// A limit shrunk from two to one while two callers race in: never more than two bodies at
/// once, no slot lost, and once the change is in force a held slot turns the next caller away.
#[test]
fn a_bulkhead_shrunk_while_callers_race_keeps_every_slot() {
    model(|| {
        let bulkhead = Arc::new(Bulkhead::builder(2).name("loom-shrunk").build().unwrap());
        let occupancy = Arc::new(Occupancy::new(2));
        let callers = two_callers(&bulkhead, &occupancy);
        let one = Bulkhead::builder(1).name("loom-shrunk").config().unwrap();
        assert_eq!(bulkhead.reconfigure(one).unwrap().limit(), 2);
        for caller in callers {
            assert!(matches!(
                caller.join().unwrap(),
                Ok(()) | Err(Error::Rejected(Rejected::BulkheadFull { .. }))
            ));
        }
        assert_eq!(bulkhead.metrics().in_flight, 0, "a slot was lost");
        assert!(poll_once_then_drop(bulkhead.call(|| async {
            assert!(matches!(
                ready(bulkhead.call(|| async { Ok::<_, Error>(()) })),
                Err(Error::Rejected(Rejected::BulkheadFull { limit: 1, .. }))
            ));
            std::future::pending::<Result<(), Error>>().await
        })));
    });
}

/// The threshold lowered from three failures to one while two calls fail: the breaker opens
/// exactly once, whichever setting each failure was judged by.
#[test]
fn a_threshold_lowered_while_calls_fail_opens_the_breaker_once() {
    model(|| {
        __loom::set_clock(1_000);
        let builder = || CircuitBreaker::builder("loom-retuned").reset(Duration::from_secs(10));
        let breaker = Arc::new(builder().fail_max(3).build().unwrap());
        let failing: Vec<_> = (0..2)
            .map(|_| spawn_call(&breaker, Err(Error::Down)))
            .collect();
        breaker
            .reconfigure(builder().fail_max(1).config().unwrap())
            .unwrap();
        let failed = failing
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|r| matches!(r, Err(Error::Down)))
            .count();
        assert!(failed >= 1);
        if breaker.state() == CircuitState::Closed {
            // Both failures were judged against three; the next one is judged against one.
            assert_eq!(failed, 2);
            let _ = ready(breaker.call(|| async { Err::<(), _>(Error::Down) }));
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.metrics().transitions, 1, "opened exactly once");
    });
}

/// A limiter of 10 calls a second, `burst` at once, on the model's standing clock.
fn limiter(burst: u64) -> Arc<RateLimiter> {
    __loom::set_clock(3_600_000_000_000);
    let limiter = RateLimiter::builder(10, Duration::from_secs(1))
        .name("loom-limiter")
        .burst(burst)
        .build()
        .unwrap();
    Arc::new(limiter)
}

/// Callers taking turns of `limiter` at once: how many were let in.
fn race_for_turns(limiter: &Arc<RateLimiter>, callers: usize) -> usize {
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.try_acquire())
        })
        .collect();
    let mut admitted = 0;
    for thread in threads {
        match thread.join().unwrap() {
            Ok(()) => admitted += 1,
            Err(Rejected::RateLimited { retry_in, .. }) => {
                // At most three intervals: the turns owed under the larger burst.
                assert!(retry_in > Duration::ZERO && retry_in <= Duration::from_millis(300));
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    admitted
}

/// Three callers at once on a burst of two: exactly two get a turn, whatever the order of
/// their compare-and-swaps, and the third is told when the next comes.
#[test]
fn a_burst_admits_exactly_its_size_to_racing_callers() {
    model(|| {
        let limiter = limiter(2);
        assert_eq!(race_for_turns(&limiter, 3), 2);
        assert_eq!(limiter.metrics().available, 0);
        assert_eq!(limiter.metrics().rejected, 1);
    });
}

/// A burst shrunk from three to one while two callers race, two turns spent before: the
/// change never lets through more than the larger burst allows (the old burst has one turn
/// left), whatever the interleaving of the change's stores and the callers' swaps.
#[test]
fn a_burst_shrunk_while_callers_race_admits_no_more_than_either_burst() {
    model(|| {
        let limiter = limiter(3);
        limiter.try_acquire().unwrap();
        limiter.try_acquire().unwrap();
        let smaller = RateLimiter::builder(10, Duration::from_secs(1))
            .name("loom-limiter")
            .burst(1)
            .config()
            .unwrap();
        let change = {
            let limiter = limiter.clone();
            thread::spawn(move || limiter.reconfigure(smaller).map(drop))
        };
        let admitted = race_for_turns(&limiter, 2);
        change.join().unwrap().unwrap();
        assert!(admitted <= 1, "{admitted} admitted beside the two spent");
        assert_eq!(limiter.metrics().available, 0);
    });
}
