//! `#[derive(Problem)]`: RFC 9457 bodies that leak nothing, and classification that drives
//! retry and the circuit breaker with no predicate written.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use staunch::{Classify, Problem, Rejected};

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(type_base = "https://example.com/probs/")]
enum ApiError {
    #[error("Account {account_id} needs {needed} but only has {balance}.")]
    #[problem(
        status = 403,
        title = "Insufficient Funds",
        type = "insufficient-funds"
    )]
    InsufficientFunds {
        account_id: String,
        #[problem(extension)]
        needed: f64,
        #[problem(extension)]
        balance: f64,
    },
    #[error("Product {0} not found.")]
    #[problem(status = 404, title = "Product Not Found")]
    ProductNotFound(String),
    #[error("database at 10.1.2.3 rejected password hunter2")]
    #[problem(status = 503)]
    Database(#[source] std::io::Error),
    #[error("slow down")]
    #[problem(status = 429)]
    Throttled {
        #[problem(retry_after)]
        wait: Duration,
    },
    #[error("maintenance window: {0}")]
    #[problem(status = 503, expose)]
    Maintenance(String),
    #[error("conflict")]
    #[problem(status = 409, transient)]
    Conflict,
    #[error("bad gateway")]
    #[problem(status = 502, permanent, failure = false)]
    BadGatewayIgnored,
    #[error(transparent)]
    #[problem(transparent)]
    Rejected(#[from] Rejected),
}

fn body(problem: &impl Problem) -> Value {
    serde_json::to_value(problem.to_details(Some("/orders/42"))).unwrap()
}

#[test]
fn a_typed_problem_has_every_rfc_9457_member_and_flat_extensions() {
    let error = ApiError::InsufficientFunds {
        account_id: "acc-1".into(),
        needed: 50.0,
        balance: 30.0,
    };
    assert_eq!(
        body(&error),
        json!({
            "type": "https://example.com/probs/insufficient-funds",
            "title": "Insufficient Funds",
            "status": 403,
            "detail": "Account acc-1 needs 50 but only has 30.",
            "instance": "/orders/42",
            "needed": 50.0,
            "balance": 30.0,
        })
    );
}

#[test]
fn without_a_type_the_type_is_about_blank_and_the_title_the_reason_phrase() {
    let error = ApiError::Throttled {
        wait: Duration::from_secs(3),
    };
    let json = body(&error);
    assert_eq!(json["type"], "about:blank");
    assert_eq!(json["title"], "Too Many Requests");
    assert_eq!(json["status"], 429);
    // A titled variant without a type keeps its title.
    assert_eq!(
        body(&ApiError::ProductNotFound("p-9".into()))["title"],
        "Product Not Found"
    );
    assert_eq!(
        body(&ApiError::ProductNotFound("p-9".into()))["detail"],
        "Product p-9 not found."
    );
    let details = error.to_details(None);
    assert_eq!(details.instance, None);
    assert!(
        !serde_json::to_string(&details)
            .unwrap()
            .contains("instance")
    );
}

/// A client reading a dependency's problem: a body without `type` means `about:blank`
/// (RFC 9457 §3.1.1), and members it does not know are kept as extensions.
#[test]
fn a_problem_read_from_a_body_without_type_is_about_blank() {
    let details: staunch::ProblemDetails = serde_json::from_value(
        json!({"title": "Service Unavailable", "status": 503, "region": "eu"}),
    )
    .unwrap();
    assert_eq!(details.type_uri, "about:blank");
    assert_eq!(
        (details.title.as_str(), details.status),
        ("Service Unavailable", 503)
    );
    assert_eq!(details.detail, None);
    assert_eq!(details.extensions["region"], "eu");
}

#[test]
fn a_5xx_reveals_neither_its_display_nor_its_source() {
    let error = ApiError::Database(std::io::Error::other(
        "connect 10.1.2.3:5432 as admin/hunter2",
    ));
    let text = serde_json::to_string(&error.to_details(None)).unwrap();
    for secret in ["hunter2", "10.1.2.3", "admin", "database", "5432"] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
    assert_eq!(body(&error)["detail"], staunch::GENERIC_DETAIL);
    assert_eq!(body(&error)["title"], "Service Unavailable");
    // `expose` opts a 5xx in.
    assert_eq!(
        body(&ApiError::Maintenance("back at 14:00".into()))["detail"],
        "maintenance window: back at 14:00"
    );
}

#[test]
fn transparent_forwards_everything_to_the_rejection() {
    let open = ApiError::Rejected(Rejected::CircuitOpen {
        name: "payments",
        retry_in: Duration::from_millis(2500),
    });
    assert_eq!(open.status(), 503);
    assert_eq!(open.retry_after(), Some(Duration::from_millis(2500)));
    assert!(!open.is_transient());
    let timeout = ApiError::Rejected(Rejected::Timeout {
        after: Duration::from_secs(2),
    });
    assert_eq!(
        (
            timeout.status(),
            timeout.is_transient(),
            timeout.is_failure()
        ),
        (504, true, true)
    );
    // And says it is one, so a tower layer outside judges it as the rejection; its own errors
    // are none.
    assert_eq!(
        timeout.rejection(),
        Some(&Rejected::Timeout {
            after: Duration::from_secs(2)
        })
    );
    assert_eq!(ApiError::ProductNotFound("p-9".into()).rejection(), None);
}

#[test]
fn classification_follows_the_status_unless_overridden() {
    let not_found = ApiError::ProductNotFound("x".into());
    assert!(!not_found.is_transient() && !not_found.is_failure());
    let funds = ApiError::InsufficientFunds {
        account_id: String::new(),
        needed: 1.0,
        balance: 0.0,
    };
    assert!(!funds.is_transient() && !funds.is_failure());
    let db = ApiError::Database(std::io::Error::other("x"));
    assert!(db.is_transient() && db.is_failure());
    let throttled = ApiError::Throttled {
        wait: Duration::from_secs(7),
    };
    assert!(throttled.is_transient() && throttled.is_failure());
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(7)));
    assert!(ApiError::Conflict.is_transient() && !ApiError::Conflict.is_failure());
    let ignored = ApiError::BadGatewayIgnored;
    assert!(!ignored.is_transient() && !ignored.is_failure());
}

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[error("gone: {reason}")]
#[problem(status = 410, type = "https://example.com/probs/gone")]
struct Gone {
    reason: String,
    #[problem(extension = "gone_since")]
    since: u32,
}

#[test]
fn structs_derive_too() {
    let gone = Gone {
        reason: "retired".into(),
        since: 2024,
    };
    assert_eq!(
        body(&gone),
        json!({
            "type": "https://example.com/probs/gone",
            "title": "Gone",
            "status": 410,
            "detail": "gone: retired",
            "instance": "/orders/42",
            "gone_since": 2024,
        })
    );
}

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(status = 500)]
enum Defaulted {
    #[error("boom")]
    Boom,
    #[error("teapot")]
    #[problem(status = 418)]
    Teapot,
}

#[test]
fn an_enum_level_status_is_the_default() {
    assert_eq!(Defaulted::Boom.status(), 500);
    assert_eq!(Defaulted::Teapot.title(), "I'm a teapot");
}

#[tokio::test(start_paused = true)]
async fn retry_retries_the_503_variant_and_not_the_404_one() {
    static UNAVAILABLE: AtomicU32 = AtomicU32::new(0);
    static NOT_FOUND: AtomicU32 = AtomicU32::new(0);

    #[staunch::retry(max = 3, base = "1ms")]
    async fn unavailable() -> Result<(), ApiError> {
        UNAVAILABLE.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::Database(std::io::Error::other("down")))
    }
    #[staunch::retry(max = 3, base = "1ms")]
    async fn not_found() -> Result<(), ApiError> {
        NOT_FOUND.fetch_add(1, Ordering::SeqCst);
        Err(ApiError::ProductNotFound("p".into()))
    }
    let _ = unavailable().await;
    let _ = not_found().await;
    assert_eq!(UNAVAILABLE.load(Ordering::SeqCst), 3);
    assert_eq!(NOT_FOUND.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_on_502s_and_never_on_404s() {
    #[derive(Debug, thiserror::Error, staunch::Problem)]
    enum Upstream {
        #[error("bad gateway")]
        #[problem(status = 502)]
        BadGateway,
        #[error("not found")]
        #[problem(status = 404)]
        NotFound,
        #[error(transparent)]
        #[problem(transparent)]
        Rejected(#[from] Rejected),
    }

    #[staunch::circuit_breaker(name = "problem-404s", fail_max = 3)]
    async fn lookups() -> Result<(), Upstream> {
        Err(Upstream::NotFound)
    }
    #[staunch::circuit_breaker(name = "problem-502s", fail_max = 3)]
    async fn gateway() -> Result<(), Upstream> {
        Err(Upstream::BadGateway)
    }

    for _ in 0..10 {
        assert!(matches!(lookups().await, Err(Upstream::NotFound)));
    }
    assert_eq!(
        staunch::breaker("problem-404s").unwrap().state(),
        staunch::CircuitState::Closed
    );
    for _ in 0..3 {
        let _ = gateway().await;
    }
    assert_eq!(
        staunch::breaker("problem-502s").unwrap().state(),
        staunch::CircuitState::Open
    );
    assert!(matches!(
        gateway().await,
        Err(Upstream::Rejected(Rejected::CircuitOpen { .. }))
    ));
}
