//! What staunch tells the operator: tracing events (target `staunch`) and the registry.

use staunch::{Bulkhead, CircuitBreaker, CircuitState, Detail, RetryBudget};
use tracing::Level;

mod support;
use support::Error;
use support::capture::Capture;

fn run<F: Future>(capture: &Capture, f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(capture.clone(), || rt.block_on(f))
}

#[test]
fn each_retry_logs_a_warning_with_function_attempt_delay_and_error() {
    #[staunch::retry(max = 3, base = "100ms", jitter = "none")]
    async fn flaky() -> Result<(), Error> {
        Err(Error::Down)
    }
    let capture = Capture::default();
    let _ = run(&capture, flaky());
    let events = capture.0.lock().unwrap().clone();
    let retries: Vec<_> = events
        .iter()
        .filter(|e| e.field("attempt").is_some())
        .collect();
    assert_eq!(retries.len(), 2, "{events:#?}");
    for (i, event) in retries.iter().enumerate() {
        assert_eq!(
            (event.level, event.target.as_str()),
            (Level::WARN, "staunch")
        );
        assert!(event.field("function").unwrap().ends_with("::flaky"));
        assert_eq!(event.field("attempt"), Some((i + 1).to_string().as_str()));
        assert_eq!(event.field("error"), Some("Down"));
    }
    assert_eq!(retries[0].field("delay_ms"), Some("100"));
    assert_eq!(retries[1].field("delay_ms"), Some("200"));
}

#[test]
fn breaker_transitions_and_conflicting_settings_are_logged() {
    let capture = Capture::default();
    run(&capture, async {
        let breaker = CircuitBreaker::builder("observed")
            .fail_max(1)
            .build_shared()
            .unwrap();
        let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
        assert_eq!(breaker.state(), CircuitState::Open);
        CircuitBreaker::builder("observed")
            .fail_max(9)
            .build_shared()
            .unwrap();
    });
    let events = capture.0.lock().unwrap().clone();
    let opened = events
        .iter()
        .find(|e| e.field("breaker") == Some("observed") && e.field("to").is_some())
        .expect("a transition event");
    assert_eq!(opened.level, Level::WARN);
    assert_eq!(
        (opened.field("from"), opened.field("to")),
        (Some("Closed"), Some("Open"))
    );
    let conflict = events
        .iter()
        .find(|e| e.level == Level::ERROR)
        .expect("a conflict event");
    assert_eq!(conflict.target, "staunch");
    assert_eq!(conflict.field("breaker"), Some("observed"));
}

#[test]
fn the_snapshot_lists_every_named_instance() {
    let capture = Capture::default();
    run(&capture, async {
        CircuitBreaker::builder("snapshot-breaker")
            .build_shared()
            .unwrap();
        staunch::Bulkhead::builder(3)
            .name("snapshot-bulkhead")
            .build_shared()
            .unwrap();
    });
    let snapshot = staunch::registry().snapshot();
    let find = |name: &str| snapshot.instances.iter().find(|i| i.name == name).unwrap();
    assert!(
        matches!(&find("snapshot-breaker").detail, Detail::CircuitBreaker(m) if m.state == CircuitState::Closed)
    );
    assert!(matches!(&find("snapshot-bulkhead").detail, Detail::Bulkhead(m) if m.limit == 3));
}

#[test]
fn an_attribute_giving_only_a_name_adopts_the_configured_breaker_silently() {
    #[staunch::circuit_breaker(name = "configured-at-startup")]
    async fn guarded() -> Result<(), Error> {
        Err(Error::Down)
    }
    let capture = Capture::default();
    run(&capture, async {
        // Settings read at startup configure the breaker the attribute names.
        let breaker = CircuitBreaker::builder("configured-at-startup")
            .fail_max(1)
            .build_shared()
            .unwrap();
        let _ = guarded().await;
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "fail_max 1 from the builder, not 5"
        );
    });
    let events = capture.0.lock().unwrap().clone();
    assert!(
        events.iter().all(|e| e.level != Level::ERROR),
        "{events:#?}"
    );
}

#[test]
fn bulkheads_and_budgets_named_with_conflicting_settings_are_logged_once_per_use() {
    let capture = Capture::default();
    run(&capture, async {
        let first = Bulkhead::builder(2)
            .name("observed-bulkhead")
            .build_shared()
            .unwrap();
        let same = Bulkhead::builder(2)
            .name("observed-bulkhead")
            .build_shared()
            .unwrap();
        assert!(std::ptr::eq(first, same));
        let kept = Bulkhead::builder(3)
            .name("observed-bulkhead")
            .build_shared()
            .unwrap();
        assert_eq!(kept.metrics().limit, 2, "the first settings are kept");

        let budget = || RetryBudget::builder("observed-budget").max_balance(7);
        budget().build_shared().unwrap();
        budget().build_shared().unwrap();
        budget().ratio(0.5).build_shared().unwrap();
        // `#[retry(budget = "...")]` without a configured budget asks with the defaults: never
        // a conflict, whatever was configured first.
        spends_the_observed_budget().await.unwrap();
    });
    let events = capture.0.lock().unwrap().clone();
    let errors: Vec<_> = events.iter().filter(|e| e.level == Level::ERROR).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].field("bulkhead"), Some("observed-bulkhead"));
    assert_eq!(errors[1].field("budget"), Some("observed-budget"));
    // The conflict reported is the configured ratio, not the defaults' request.
    let ignored = errors[1].field("ignored").unwrap();
    assert!(ignored.contains(r#""ratio":0.5"#), "{ignored}");
    assert_eq!(
        errors[0].field("decided_by"),
        Some("the build_shared that made it first")
    );
}

#[staunch::retry(max = 2, budget = "observed-budget")]
async fn spends_the_observed_budget() -> Result<(), Error> {
    Ok(())
}

/// An error without `Debug` still names itself in the retry log, by its type.
#[test]
fn a_retried_error_without_debug_is_logged_by_its_type_name() {
    struct Opaque;
    #[staunch::retry(max = 2, base = "1ms", jitter = "none")]
    async fn opaque() -> Result<(), Opaque> {
        Err(Opaque)
    }
    let capture = Capture::default();
    let _ = run(&capture, opaque());
    let events = capture.0.lock().unwrap().clone();
    let retry = events
        .iter()
        .find(|e| e.field("attempt").is_some())
        .expect("a retry event");
    assert!(
        retry.field("error").unwrap().ends_with("::Opaque"),
        "{retry:?}"
    );
}

#[test]
fn a_server_error_is_logged_and_a_rejection_answered_as_a_problem_is_not() {
    #[derive(Debug, thiserror::Error, staunch::Problem)]
    enum Failed {
        #[error("the ledger is corrupt")]
        #[problem(status = 500)]
        Ledger,
        #[error(transparent)]
        #[problem(transparent)]
        Refused(#[from] staunch::Rejected),
    }
    let capture = Capture::default();
    run(&capture, async {
        let shed = Failed::from(staunch::Rejected::BulkheadFull {
            name: "observed-shed",
            limit: 1,
        });
        for _ in 0..3 {
            assert_eq!(staunch::ProblemResponse::of(&shed).status, 503);
        }
        assert_eq!(staunch::ProblemResponse::of(&Failed::Ledger).status, 500);
    });
    let events = capture.0.lock().unwrap().clone();
    let errors: Vec<_> = events.iter().filter(|e| e.level == Level::ERROR).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field("error"), Some("the ledger is corrupt"));
}
