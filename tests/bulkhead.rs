//! The bulkhead as a user sees it, through `#[staunch::bulkhead]` and through `Bulkhead::new`,
//! on paused tokio time. Each test uses its own bulkhead name: the registry is process-wide.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use staunch::{Bulkhead, ConfigError, Detail, Rejected};
use tokio::sync::oneshot;
use tokio::time::{Instant, advance};

mod support;
use support::{Error, ms, poll_once};

/// What the protected call does.
type Body = Pin<Box<dyn Future<Output = Result<u32, Error>> + Send>>;

fn ok() -> Body {
    Box::pin(async { Ok(1) })
}

fn down() -> Body {
    Box::pin(async { Err(Error::Down) })
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

#[track_caller]
fn assert_full(result: Result<u32, Error>, name: &str, limit: usize) {
    match result {
        Err(Error::Rejected(Rejected::BulkheadFull { name: n, limit: l }))
            if n == name && l == limit => {}
        other => panic!("expected BulkheadFull from `{name}` ({limit}), got {other:?}"),
    }
}

fn handle(name: &str) -> &'static Bulkhead {
    staunch::bulkhead(name).expect("registered on first call")
}

/// With `limit = 2` and no `max_wait`: the third concurrent call is refused on its first poll
/// without running; a finished, failed or cancelled call gives its slot back.
async fn scenario_limit<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    bulkhead: impl Fn() -> &'b Bulkhead,
) {
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert!(matches!(call(down()).await, Err(Error::Down)));
    assert_eq!(bulkhead().metrics().in_flight, 0);

    let (release, first) = gated();
    let mut first = Box::pin(call(first));
    assert!(poll_once(&mut first).await.is_pending());
    let mut second = Box::pin(call(hanging()));
    assert!(poll_once(&mut second).await.is_pending());
    assert_eq!(bulkhead().metrics().in_flight, 2);

    let ran = Arc::new(AtomicBool::new(false));
    let mut third = Box::pin(call(watched(&ran)));
    let Poll::Ready(third) = poll_once(&mut third).await else {
        panic!("the call over the limit waited");
    };
    assert_full(third, name, 2);
    assert!(!ran.load(Ordering::SeqCst), "the refused call ran");
    let metrics = bulkhead().metrics();
    assert_eq!(
        (metrics.limit, metrics.in_flight, metrics.rejected),
        (2, 2, 1)
    );

    release.send(Ok(7)).unwrap();
    assert_eq!(first.await.unwrap(), 7);
    assert_eq!(bulkhead().metrics().in_flight, 1);
    assert_eq!(call(ok()).await.unwrap(), 1);

    drop(second);
    assert_eq!(bulkhead().metrics().in_flight, 0, "the cancelled call left");
    let mut held = [Box::pin(call(hanging())), Box::pin(call(hanging()))];
    for call in &mut held {
        assert!(poll_once(call).await.is_pending());
    }
    assert_full(call(ok()).await, name, 2);
    assert_eq!(bulkhead().metrics().rejected, 2);
}

#[staunch::bulkhead(name = "attr-limit", limit = 2)]
async fn attr_limit(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_refuses_the_call_over_the_limit_at_once() {
    scenario_limit("attr-limit", attr_limit, || handle("attr-limit")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_refuses_the_call_over_the_limit_at_once() {
    let bulkhead = Bulkhead::builder(2).name("builder-limit").build().unwrap();
    scenario_limit(
        "builder-limit",
        async |body| bulkhead.call(|| body).await,
        || &bulkhead,
    )
    .await;
}

/// With `limit = 1`, `max_wait = 50ms`: a caller waits for a slot that frees within 50 ms and
/// then runs; one whose slot does not free in time is refused after exactly 50 ms; a caller
/// that gives up while waiting takes nothing with it.
async fn scenario_max_wait<'b>(
    name: &str,
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    bulkhead: impl Fn() -> &'b Bulkhead,
) {
    let (release, first) = gated();
    let mut first = Box::pin(call(first));
    assert!(poll_once(&mut first).await.is_pending());
    let ran = Arc::new(AtomicBool::new(false));
    let mut waiting = Box::pin(call(watched(&ran)));
    assert!(poll_once(&mut waiting).await.is_pending(), "it waits");
    advance(ms(30)).await;
    assert!(poll_once(&mut waiting).await.is_pending());
    assert!(!ran.load(Ordering::SeqCst));
    release.send(Ok(1)).unwrap();
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(
        waiting.await.unwrap(),
        1,
        "the freed slot went to the waiting call"
    );
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(bulkhead().metrics().rejected, 0);

    let mut holder = Box::pin(call(hanging()));
    assert!(poll_once(&mut holder).await.is_pending());
    let started = Instant::now();
    let ran = Arc::new(AtomicBool::new(false));
    let mut waiting = Box::pin(call(watched(&ran)));
    assert!(poll_once(&mut waiting).await.is_pending());
    advance(ms(49)).await;
    assert!(
        poll_once(&mut waiting).await.is_pending(),
        "refused before `max_wait`"
    );
    advance(ms(1)).await;
    let Poll::Ready(result) = poll_once(&mut waiting).await else {
        panic!("still waiting after `max_wait`");
    };
    assert_full(result, name, 1);
    assert_eq!(started.elapsed(), ms(50));
    assert!(!ran.load(Ordering::SeqCst), "the refused call ran");
    let metrics = bulkhead().metrics();
    assert_eq!((metrics.in_flight, metrics.rejected), (1, 1));

    // A waiter that gives up leaves no trace; the holder's slot then goes to the next caller.
    let mut impatient = Box::pin(call(ok()));
    assert!(poll_once(&mut impatient).await.is_pending());
    drop(impatient);
    drop(holder);
    assert_eq!(bulkhead().metrics().in_flight, 0);
    let mut next = Box::pin(call(ok()));
    assert!(
        matches!(poll_once(&mut next).await, Poll::Ready(Ok(1))),
        "admitted at once"
    );
}

#[staunch::bulkhead(name = "attr-max-wait", limit = 1, max_wait = "50ms")]
async fn attr_max_wait(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn attribute_max_wait_waits_for_a_slot_then_refuses() {
    scenario_max_wait("attr-max-wait", attr_max_wait, || handle("attr-max-wait")).await;
}

#[tokio::test(start_paused = true)]
async fn builder_max_wait_waits_for_a_slot_then_refuses() {
    let bulkhead = Bulkhead::builder(1)
        .name("builder-max-wait")
        .max_wait(ms(50))
        .build()
        .unwrap();
    scenario_max_wait(
        "builder-max-wait",
        async |body| bulkhead.call(|| body).await,
        || &bulkhead,
    )
    .await;
}

/// A call cancelled by an outer `tokio::time::timeout` gives its slot back, with or without
/// `max_wait`.
async fn scenario_cancelled<'b>(
    call: impl AsyncFn(Body) -> Result<u32, Error>,
    bulkhead: impl Fn() -> &'b Bulkhead,
) {
    for _ in 0..3 {
        assert!(
            tokio::time::timeout(ms(100), call(hanging()))
                .await
                .is_err()
        );
        assert_eq!(bulkhead().metrics().in_flight, 0);
    }
    assert_eq!(call(ok()).await.unwrap(), 1);
    assert_eq!(bulkhead().metrics().rejected, 0);
}

#[staunch::bulkhead(name = "attr-cancelled", limit = 1)]
async fn attr_cancelled(body: Body) -> Result<u32, Error> {
    body.await
}

#[staunch::bulkhead(name = "attr-cancelled-waiting", limit = 1, max_wait = "1s")]
async fn attr_cancelled_waiting(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_frees_its_slot() {
    scenario_cancelled(attr_cancelled, || handle("attr-cancelled")).await;
    scenario_cancelled(attr_cancelled_waiting, || handle("attr-cancelled-waiting")).await;
    let bulkhead = Bulkhead::builder(1)
        .name("builder-cancelled")
        .build()
        .unwrap();
    scenario_cancelled(async |body| bulkhead.call(|| body).await, || &bulkhead).await;
    let bulkhead = Bulkhead::builder(1)
        .name("builder-cancelled-waiting")
        .max_wait(ms(500))
        .build()
        .unwrap();
    scenario_cancelled(async |body| bulkhead.call(|| body).await, || &bulkhead).await;
}

#[staunch::bulkhead(name = "attr-shared", limit = 1)]
async fn attr_shared_reads(body: Body) -> Result<u32, Error> {
    body.await
}

#[staunch::bulkhead(name = "attr-shared", limit = 1)]
async fn attr_shared_writes(key: &str, body: Body) -> Result<u32, Error> {
    let _ = key;
    body.await
}

#[tokio::test(start_paused = true)]
async fn functions_naming_the_same_bulkhead_share_its_slots() {
    assert!(
        staunch::bulkhead("attr-shared").is_none(),
        "created on first use"
    );
    let mut reading = Box::pin(attr_shared_reads(hanging()));
    assert!(poll_once(&mut reading).await.is_pending());
    assert_full(attr_shared_writes("k", ok()).await, "attr-shared", 1);
    assert_full(attr_shared_reads(ok()).await, "attr-shared", 1);
    let metrics = handle("attr-shared").metrics();
    assert_eq!((metrics.in_flight, metrics.rejected), (1, 2));
    drop(reading);
    assert_eq!(attr_shared_writes("k", ok()).await.unwrap(), 1);

    let shared = Bulkhead::builder(1)
        .name("attr-shared")
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(shared, handle("attr-shared")));
    assert!(staunch::bulkhead("no-such-bulkhead").is_none());
}

#[staunch::bulkhead(limit = 1)]
async fn attr_unnamed(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn an_unnamed_bulkhead_is_the_functions_own() {
    let own = concat!(module_path!(), "::attr_unnamed");
    let mut holder = Box::pin(attr_unnamed(hanging()));
    assert!(poll_once(&mut holder).await.is_pending());
    assert_full(attr_unnamed(ok()).await, own, 1);
    assert_eq!(handle(own).metrics().in_flight, 1);
}

#[test]
fn a_limit_of_zero_is_a_config_error() {
    for max_wait in [Duration::ZERO, ms(50)] {
        assert!(matches!(
            Bulkhead::builder(0).name("zero").max_wait(max_wait).build(),
            Err(ConfigError::OutOfRange {
                option: "limit",
                ..
            })
        ));
        assert!(matches!(
            Bulkhead::builder(0)
                .name("zero")
                .max_wait(max_wait)
                .build_shared(),
            Err(ConfigError::OutOfRange {
                option: "limit",
                ..
            })
        ));
    }
    assert!(staunch::bulkhead("zero").is_none(), "nothing registered");
}

#[staunch::bulkhead(name = "attr-snapshot", limit = 3)]
async fn attr_snapshot(body: Body) -> Result<u32, Error> {
    body.await
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_lists_named_bulkheads_with_counters_and_serializes() {
    let mut held = [
        Box::pin(attr_snapshot(hanging())),
        Box::pin(attr_snapshot(hanging())),
        Box::pin(attr_snapshot(hanging())),
    ];
    for call in &mut held {
        assert!(poll_once(call).await.is_pending());
    }
    assert_full(attr_snapshot(ok()).await, "attr-snapshot", 3);

    let snapshot = staunch::registry().snapshot();
    let entry = snapshot
        .instances
        .iter()
        .find(|i| i.name == "attr-snapshot")
        .unwrap();
    let Detail::Bulkhead(metrics) = &entry.detail else {
        panic!("a bulkhead: {entry:?}");
    };
    assert_eq!(
        (metrics.limit, metrics.in_flight, metrics.rejected),
        (3, 3, 1)
    );

    let json = serde_json::to_value(&snapshot).unwrap();
    let entry = json["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "attr-snapshot")
        .unwrap();
    assert_eq!(
        *entry,
        serde_json::json!({
            "name": "attr-snapshot",
            "kind": "bulkhead",
            "limit": 3,
            "in_flight": 3,
            "rejected": 1,
            "admitted": 3,
            "settings": {"limit": 3, "max_wait": "0s"},
        })
    );
}

#[test]
fn a_limit_above_the_maximum_is_refused_with_the_maximum() {
    for limit in [Bulkhead::MAX_LIMIT + 1, usize::MAX] {
        let error = Bulkhead::builder(limit)
            .name("above-max")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::OutOfRange {
                    option: "limit",
                    expected: "at most 536870911",
                    ..
                }
            ),
            "{error}"
        );
    }
    // The largest limit the attribute accepts (tests/ui/fail/bulkhead_limit_above_max.rs).
    let largest = Bulkhead::builder(Bulkhead::MAX_LIMIT)
        .name("max")
        .max_wait(ms(10))
        .build()
        .unwrap();
    assert_eq!(largest.metrics().limit, 536_870_911);
}

// ---------------------------------------------------------------------------------------------
// Settings changed while the bulkhead runs.
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_shrunk_bulkhead_admits_no_call_until_under_its_new_limit() {
    let bulkhead = Bulkhead::builder(3).name("resized-shrunk").build().unwrap();
    let call = async |body: Body| bulkhead.call(|| body).await;
    let mut holders: Vec<_> = (0..3).map(|_| Box::pin(call(hanging()))).collect();
    for holder in &mut holders {
        assert!(poll_once(holder).await.is_pending());
    }
    let old = bulkhead
        .reconfigure(
            Bulkhead::builder(1)
                .name("resized-shrunk")
                .config()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(old.limit(), 3);
    assert_eq!(
        bulkhead.metrics().in_flight,
        3,
        "calls in flight keep their slots"
    );
    drop(holders.pop());
    assert_full(call(ok()).await, "resized-shrunk", 1);
    drop(holders.pop());
    assert_full(call(ok()).await, "resized-shrunk", 1);
    drop(holders.pop());
    assert_eq!(call(ok()).await.unwrap(), 1, "under the new limit");
}

#[tokio::test(start_paused = true)]
async fn a_grown_bulkhead_admits_the_callers_waiting() {
    let bulkhead = Bulkhead::builder(1)
        .name("resized-grown")
        .max_wait(ms(100))
        .build()
        .unwrap();
    let call = async |body: Body| bulkhead.call(|| body).await;
    let mut holder = Box::pin(call(hanging()));
    assert!(poll_once(&mut holder).await.is_pending());
    let mut waiter = Box::pin(call(ok()));
    assert!(poll_once(&mut waiter).await.is_pending(), "queued");
    bulkhead
        .reconfigure(
            Bulkhead::builder(2)
                .name("resized-grown")
                .max_wait(ms(100))
                .config()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(waiter.await.unwrap(), 1, "woken by the wider limit");
    assert_eq!(bulkhead.metrics().limit, 2);
}

#[test]
fn a_change_of_waiting_mode_or_name_is_refused_and_changes_nothing() {
    let bulkhead = Bulkhead::builder(2)
        .name("resized-refused")
        .build()
        .unwrap();
    for config in [
        Bulkhead::builder(4)
            .name("resized-refused")
            .max_wait(ms(10))
            .config()
            .unwrap(),
        Bulkhead::builder(4).name("another-name").config().unwrap(),
    ] {
        assert!(matches!(
            bulkhead.reconfigure(config),
            Err(ConfigError::Conflict(..) | ConfigError::Running { .. })
        ));
    }
    assert_eq!(bulkhead.config().limit(), 2);
}

#[tokio::test(start_paused = true)]
async fn queued_callers_are_served_in_order_and_a_newcomer_waits_behind_them() {
    let bulkhead = Bulkhead::builder(1)
        .name("queue-order")
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let order = std::sync::Mutex::new(Vec::new());
    let call = |n: u32| {
        let order = &order;
        bulkhead.call(move || async move {
            order.lock().unwrap().push(n);
            Ok::<_, Error>(n)
        })
    };
    let (release, gate) = oneshot::channel::<()>();
    let mut holder = Box::pin(bulkhead.call(|| async {
        gate.await.unwrap();
        Ok::<_, Error>(0)
    }));
    assert!(poll_once(&mut holder).await.is_pending());
    let mut first = Box::pin(call(1));
    let mut second = Box::pin(call(2));
    assert!(poll_once(&mut first).await.is_pending());
    assert!(poll_once(&mut second).await.is_pending());
    release.send(()).unwrap();
    assert_eq!(holder.await.unwrap(), 0);
    // A slot is free, but two callers queued before this one.
    let mut newcomer = Box::pin(call(3));
    assert!(poll_once(&mut newcomer).await.is_pending(), "no barging");
    let (a, b, c) = tokio::join!(first, second, newcomer);
    assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 2, 3));
    assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_change_of_settings_is_an_event_with_old_and_new_values() {
    let bulkhead = Bulkhead::builder(2).name("resized-event").build().unwrap();
    let mut events = bulkhead.subscribe();
    bulkhead
        .reconfigure(Bulkhead::builder(5).name("resized-event").config().unwrap())
        .unwrap();
    match events.try_recv().unwrap() {
        staunch::Event::SettingsChanged { name, old, new, .. } => {
            assert_eq!(name, "resized-event");
            assert_eq!((&old["limit"], &new["limit"]), (&2.into(), &5.into()));
            assert_eq!(new["max_wait"], "0s", "in the settings' literal forms");
        }
        other => panic!("{other:?}"),
    }
}
