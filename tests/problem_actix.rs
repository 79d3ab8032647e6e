//! With feature `actix`, every `Problem` is an actix-web `ResponseError` answering exactly what
//! the axum integration answers.

use std::time::Duration;

use actix_web::ResponseError;
use axum::response::IntoResponse;
use serde_json::Value;
use staunch::Rejected;

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
    #[error("connection to 10.9.8.7 refused")]
    #[problem(status = 502)]
    Upstream,
    #[error(transparent)]
    #[problem(transparent)]
    Rejected(#[from] Rejected),
}

/// Status, content type, Retry-After and JSON body of each framework's response.
type Parts = (u16, Option<String>, Option<String>, Value);

async fn actix_parts(error: &impl ResponseError) -> Parts {
    let response = error.error_response();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, content_type, retry_after) = (
        response.status().as_u16(),
        header("content-type"),
        header("retry-after"),
    );
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap();
    (
        status,
        content_type,
        retry_after,
        serde_json::from_slice(&body).unwrap(),
    )
}

async fn axum_parts(error: impl IntoResponse) -> Parts {
    let response = error.into_response();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, content_type, retry_after) = (
        response.status().as_u16(),
        header("content-type"),
        header("retry-after"),
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        content_type,
        retry_after,
        serde_json::from_slice(&body).unwrap(),
    )
}

fn errors() -> Vec<ApiError> {
    vec![
        ApiError::InsufficientFunds {
            account_id: "acc-1".into(),
            needed: 50.0,
            balance: 30.0,
        },
        ApiError::Upstream,
        ApiError::Rejected(Rejected::CircuitOpen {
            name: "payments",
            retry_in: Duration::from_millis(4100),
        }),
        ApiError::Rejected(Rejected::Timeout {
            after: Duration::from_secs(2),
        }),
    ]
}

#[tokio::test]
async fn actix_answers_what_axum_answers() {
    for (a, b) in errors().into_iter().zip(errors()) {
        let actix = actix_parts(&a).await;
        assert_eq!(actix, axum_parts(b).await, "{a:?}");
        assert_eq!(actix.0, a.status_code().as_u16());
        assert_eq!(actix.1.as_deref(), Some("application/problem+json"));
    }
}

#[tokio::test]
async fn status_headers_and_body_are_the_problem() {
    let funds = actix_parts(&errors().remove(0)).await;
    assert_eq!(funds.0, 403);
    assert_eq!(
        funds.3["type"],
        "https://example.com/probs/insufficient-funds"
    );
    assert_eq!(funds.3["needed"], 50.0);

    let upstream = actix_parts(&ApiError::Upstream).await;
    assert_eq!(upstream.0, 502);
    assert!(!upstream.3.to_string().contains("10.9.8.7"));

    let open = actix_parts(&errors().remove(2)).await;
    assert_eq!((open.0, open.2.as_deref()), (503, Some("5")));
    let rejected = Rejected::BulkheadFull {
        name: "db",
        limit: 4,
    };
    assert_eq!(rejected.status_code().as_u16(), 503);
}

/// A rejection returned as it is answers the same in both frameworks, a whole number of
/// seconds left as it is in Retry-After.
#[tokio::test]
async fn a_rejection_answers_alike_in_both_frameworks() {
    let open = || Rejected::CircuitOpen {
        name: "payments",
        retry_in: Duration::from_secs(3),
    };
    let actix = actix_parts(&open()).await;
    assert_eq!(actix, axum_parts(open()).await);
    assert_eq!(
        (actix.0, actix.1.as_deref(), actix.2.as_deref()),
        (503, Some("application/problem+json"), Some("3"))
    );
    assert_eq!(actix.3["status"], 503);
}
