//! The one stream of events: every named instance's `subscribe()`, and the registry's stream of
//! everything.

use std::time::Duration;

use staunch::{
    Bulkhead, CircuitBreaker, CircuitState, Event, InstanceKind, Rejected, Retry, RetryBudget,
};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

mod support;
use support::Error;

/// The events received so far about instance `name`.
fn drain(events: &mut Receiver<Event>, name: &str) -> Vec<Event> {
    let mut received = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) if event.name() == name => received.push(event),
            Ok(_) => {}
            Err(TryRecvError::Empty) => return received,
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_reports_its_transitions_and_rejections() {
    let breaker = CircuitBreaker::builder("events-breaker")
        .fail_max(1)
        .build()
        .unwrap();
    let mut own = breaker.events();
    let mut everything = staunch::registry().subscribe();
    let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
    let _ = breaker.call(|| async { Ok::<_, Error>(()) }).await;
    let expected = [
        Event::Transition {
            name: "events-breaker",
            from: CircuitState::Closed,
            to: CircuitState::Open,
        },
        Event::Rejected {
            name: "events-breaker",
            rejected: Rejected::CircuitOpen {
                name: "events-breaker",
                retry_in: Duration::from_secs(60),
            },
        },
    ];
    assert_eq!(drain(&mut own, "events-breaker"), expected);
    assert_eq!(drain(&mut everything, "events-breaker"), expected);
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_reports_its_rejections() {
    let bulkhead = Bulkhead::builder(1)
        .name("events-bulkhead")
        .build()
        .unwrap();
    let mut events = bulkhead.subscribe();
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let holder = bulkhead.call(|| async {
        gate.await.unwrap();
        Ok::<_, Error>(())
    });
    let mut holder = Box::pin(holder);
    assert!(futures_poll(&mut holder).is_none());
    assert!(
        bulkhead
            .call(|| async { Ok::<_, Error>(()) })
            .await
            .is_err()
    );
    release.send(()).unwrap();
    holder.await.unwrap();
    assert_eq!(
        drain(&mut events, "events-bulkhead"),
        [Event::Rejected {
            name: "events-bulkhead",
            rejected: Rejected::BulkheadFull {
                name: "events-bulkhead",
                limit: 1
            },
        }]
    );
}

/// Polls once; `Some` if it finished.
fn futures_poll<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(future).poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_policy_reports_each_retry_with_attempt_pause_and_error() {
    let policy = Retry::constant()
        .name("events-retry")
        .max_attempts(3)
        .base(Duration::from_millis(10))
        .jitter(staunch::Jitter::None)
        .build()
        .unwrap();
    let mut events = policy.subscribe();
    let _: Result<(), Error> = policy.call(|| async { Err(Error::Down) }).await;
    let scheduled = |attempt| Event::RetryScheduled {
        name: "events-retry",
        attempt,
        delay: Duration::from_millis(10),
        error: "error".to_owned(),
    };
    assert_eq!(
        drain(&mut events, "events-retry"),
        [scheduled(1), scheduled(2)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_budget_reports_the_retries_it_refuses() {
    let budget = RetryBudget::builder("events-budget")
        .ratio(0.0)
        .min_per_sec(0)
        .max_balance(1)
        .build_shared()
        .unwrap();
    let mut events = budget.subscribe();

    #[staunch::retry(max = 5, base = "1ms", budget = "events-budget")]
    async fn down() -> Result<(), Error> {
        Err(Error::Down)
    }
    assert!(down().await.is_err());
    let received = drain(&mut events, "events-budget");
    assert!(
        matches!(
            received.as_slice(),
            [Event::BudgetSpent { attempt: 2, function, .. }] if function.ends_with("::down")
        ),
        "{received:?}"
    );
}

#[test]
fn a_name_used_with_conflicting_settings_is_reported_on_its_stream() {
    let first = CircuitBreaker::builder("events-conflict")
        .fail_max(2)
        .build_shared()
        .unwrap();
    let mut events = first.events();
    CircuitBreaker::builder("events-conflict")
        .fail_max(3)
        .build_shared()
        .unwrap();
    let received = drain(&mut events, "events-conflict");
    assert!(
        matches!(
            received.as_slice(),
            [Event::SettingsConflict { kind: InstanceKind::CircuitBreaker, in_force, ignored, decided_by, .. }]
                if in_force["fail_max"] == 2 && ignored["fail_max"] == 3
                    && decided_by == "the build_shared that made it first"
        ),
        "{received:?}"
    );
}

#[test]
fn events_serialize_for_a_dashboard() {
    let event = Event::RetryScheduled {
        name: "fetch",
        attempt: 1,
        delay: Duration::from_millis(250),
        error: "timed out".to_owned(),
    };
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        serde_json::json!({
            "event": "retry_scheduled", "name": "fetch", "attempt": 1, "delay": 250,
            "error": "timed out"
        })
    );
    let rejected = Event::Rejected {
        name: "db",
        rejected: Rejected::BulkheadFull {
            name: "db",
            limit: 4,
        },
    };
    assert_eq!(
        serde_json::to_value(&rejected).unwrap()["rejected"],
        "bulkhead `db` is full (4 calls in flight)"
    );
}
