//! The timeout as a user sees it, through `#[staunch::timeout]` (both spellings) and through
//! `staunch::timeout`, on paused tokio time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::Poll;
use std::time::Duration;

use staunch::Rejected;
use tokio::time::{Instant, advance, sleep};

mod support;
use support::{Error, ms, poll_once};

/// What the protected call does.
type Body = Pin<Box<dyn Future<Output = Result<u32, Error>> + Send>>;

/// Sets its flag when dropped: proves that the inner future was dropped, not just abandoned.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What became of a body: dropped, finished.
#[derive(Default)]
struct Fate {
    dropped: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
}

impl Fate {
    /// A body that takes `d`, then succeeds with 1.
    fn taking(&self, d: Duration) -> Body {
        let guard = DropFlag(self.dropped.clone());
        let finished = self.finished.clone();
        Box::pin(async move {
            let _guard = guard;
            sleep(d).await;
            finished.store(true, Ordering::SeqCst);
            Ok(1)
        })
    }

    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

/// With a 2 s timeout: a 5 s call runs for 2 s, is then dropped, and the caller gets
/// `Timeout { after: 2s }`; fast calls and errors pass through untouched; every call has the
/// whole 2 s of its own.
async fn scenario_timeout(call: impl AsyncFn(Body) -> Result<u32, Error>) {
    let slow = Fate::default();
    let mut pending = Box::pin(call(slow.taking(ms(5_000))));
    assert!(poll_once(&mut pending).await.is_pending());
    advance(ms(1_999)).await;
    assert!(poll_once(&mut pending).await.is_pending());
    assert!(!slow.dropped(), "dropped before its time was up");
    advance(ms(1)).await;
    let Poll::Ready(result) = poll_once(&mut pending).await else {
        panic!("still running after the timeout");
    };
    assert!(
        matches!(result, Err(Error::Rejected(Rejected::Timeout { after })) if after == ms(2_000)),
        "{result:?}"
    );
    assert!(slow.dropped(), "the inner call was not dropped");
    assert!(!slow.finished());
    assert_eq!(
        result.unwrap_err().to_string(),
        "timed out after 2s",
        "the rejection reads as one"
    );

    let started = Instant::now();
    assert_eq!(call(Box::pin(async { Ok(7) })).await.unwrap(), 7);
    assert!(matches!(
        call(Box::pin(async { Err(Error::Down) })).await,
        Err(Error::Down)
    ));
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "a fast call waits for nothing"
    );

    for _ in 0..2 {
        let fate = Fate::default();
        let mut pending = Box::pin(call(fate.taking(ms(1_999))));
        assert!(poll_once(&mut pending).await.is_pending());
        advance(ms(1_999)).await;
        assert_eq!(pending.await.unwrap(), 1, "each call has its own 2 s");
        assert!(fate.finished() && fate.dropped());
    }
}

#[staunch::timeout("2s")]
async fn attr_positional(body: Body) -> Result<u32, Error> {
    body.await
}

#[staunch::timeout(after = "2s")]
async fn attr_after(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_drops_the_call_after_the_duration() {
    scenario_timeout(attr_positional).await;
}

#[tokio::test(start_paused = true)]
async fn attribute_with_after_drops_the_call_after_the_duration() {
    scenario_timeout(attr_after).await;
}

#[tokio::test(start_paused = true)]
async fn timeout_fn_drops_the_call_after_the_duration() {
    scenario_timeout(async |body| staunch::timeout(ms(2_000), || body).await).await;
}

#[staunch::timeout("1m 30s")]
async fn attr_compound(body: Body) -> Result<u32, Error> {
    body.await
}

#[staunch::timeout("150ms")]
async fn attr_millis(body: Body) -> Result<u32, Error> {
    body.await
}

/// A call taking twice `after` is pending until `after`, then refused with `Timeout { after }`.
async fn times_out_after(call: impl AsyncFn(Body) -> Result<u32, Error>, after: Duration) {
    let fate = Fate::default();
    let mut pending = Box::pin(call(fate.taking(after * 2)));
    assert!(poll_once(&mut pending).await.is_pending());
    advance(after - ms(1)).await;
    assert!(poll_once(&mut pending).await.is_pending());
    advance(ms(1)).await;
    let Poll::Ready(result) = poll_once(&mut pending).await else {
        panic!("still running after {after:?}");
    };
    assert!(
        matches!(result, Err(Error::Rejected(Rejected::Timeout { after: a })) if a == after),
        "{result:?}"
    );
    assert!(fate.dropped() && !fate.finished());
}

#[tokio::test(start_paused = true)]
async fn attribute_durations_in_other_units() {
    times_out_after(attr_compound, Duration::from_secs(90)).await;
    times_out_after(attr_millis, ms(150)).await;
}

/// The timeout bounds one call of the body; the body runs again, in full, on the next call.
#[tokio::test(start_paused = true)]
async fn the_next_call_runs_the_body_again() {
    static RUNS: AtomicU32 = AtomicU32::new(0);

    #[staunch::timeout("1s")]
    async fn counted(d: Duration) -> Result<u32, Error> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        sleep(d).await;
        Ok(RUNS.load(Ordering::SeqCst))
    }

    let mut first = Box::pin(counted(ms(1_500)));
    assert!(poll_once(&mut first).await.is_pending());
    advance(ms(1_000)).await;
    assert!(matches!(
        first.await,
        Err(Error::Rejected(Rejected::Timeout { .. }))
    ));
    let mut second = Box::pin(counted(ms(500)));
    assert!(poll_once(&mut second).await.is_pending());
    advance(ms(500)).await;
    assert_eq!(second.await.unwrap(), 2);
}

/// A call that spends its task's whole cooperative budget at every poll (always ready, never
/// done) is still cut at its deadline, as `tokio::time::timeout` cuts it: the timer is checked
/// even when the budget is gone.
#[tokio::test(start_paused = true)]
async fn a_call_spending_the_whole_task_budget_still_times_out() {
    let busy = tokio::spawn(staunch::timeout(Duration::from_secs(1), || async {
        loop {
            tokio::task::coop::consume_budget().await;
        }
        #[allow(unreachable_code)]
        Ok::<(), Rejected>(())
    }));
    // The busy task never lets the runtime idle, so paused time moves only when told to.
    for _ in 0..20 {
        if busy.is_finished() {
            break;
        }
        advance(Duration::from_millis(100)).await;
    }
    assert!(busy.is_finished(), "the timeout never fired");
    assert_eq!(
        busy.await.unwrap(),
        Err(Rejected::Timeout {
            after: Duration::from_secs(1)
        })
    );
}
