//! The shapes `#[derive(Problem)]` accepts: an enum with a `type_base` and a default status,
//! a struct, a transparent variant, renamed extensions, every `retry_after` type, and generic
//! enums whose bounds the derive infers.
#![deny(warnings)]

use std::time::Duration;

use staunch::{Classify, Problem};

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(type_base = "https://example.com/probs/", status = 400)]
enum ApiError {
    #[error("account {account_id} is short of {needed}")]
    #[problem(status = 403, title = "Insufficient Funds", type = "insufficient-funds")]
    InsufficientFunds {
        account_id: String,
        #[problem(extension)]
        needed: f64,
        #[problem(extension = "account")]
        account_id_alias: String,
    },
    #[error("bad input")]
    BadInput(#[problem(extension = "field_name")] String),
    #[error("absolute type")]
    #[problem(status = 409, type = "tag:example.com,2026:conflict", transient)]
    Conflict,
    #[error("slow down")]
    #[problem(status = 429)]
    Throttled {
        #[problem(retry_after)]
        wait: Duration,
    },
    #[error("come back in {0}s")]
    #[problem(status = 503, expose, failure = false)]
    Maintenance(#[problem(retry_after)] u64),
    #[error("maybe later")]
    #[problem(status = 502, permanent)]
    Upstream {
        #[problem(retry_after)]
        hint: Option<Duration>,
    },
    #[error(transparent)]
    #[problem(transparent)]
    Rejected(#[from] staunch::Rejected),
}

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[error("gone since {since}")]
#[problem(status = 410, type = "/probs/gone", title = "Gone")]
struct Gone {
    #[problem(extension = "gone_since")]
    since: String,
}

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[error(transparent)]
#[problem(transparent)]
struct Wrapper(ApiError);

/// Bounds come from what each field is used for: `T` is an extension, so it must be
/// `Serialize`; `W` holds the retry delay; `E` is forwarded to.
#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(status = 422)]
enum Generic<'a, T, W, E>
where
    T: std::fmt::Debug,
{
    #[error("invalid {value:?}")]
    Invalid {
        #[problem(extension)]
        value: T,
        #[problem(extension)]
        label: &'a str,
    },
    #[error("wait")]
    #[problem(status = 503)]
    Wait(#[problem(retry_after)] W),
    #[error(transparent)]
    #[problem(transparent)]
    Inner(E),
}

fn main() {
    let error = ApiError::InsufficientFunds {
        account_id: "acc-1".into(),
        needed: 5.0,
        account_id_alias: "acc-1".into(),
    };
    assert_eq!(error.type_uri(), "https://example.com/probs/insufficient-funds");
    assert_eq!(error.extensions()["account"], "acc-1");
    assert_eq!(ApiError::BadInput("name".into()).status(), 400);
    assert_eq!(ApiError::Conflict.type_uri(), "tag:example.com,2026:conflict");
    assert_eq!(
        ApiError::Maintenance(30).retry_after(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(ApiError::Upstream { hint: None }.retry_after(), None);
    assert_eq!(Gone { since: "2026".into() }.type_uri(), "/probs/gone");
    assert_eq!(Wrapper(ApiError::Conflict).status(), 409);

    let invalid: Generic<'_, u32, u64, ApiError> = Generic::Invalid {
        value: 7,
        label: "seven",
    };
    assert_eq!(invalid.extensions()["value"], 7);
    let wait: Generic<'_, u32, u64, ApiError> = Generic::Wait(2);
    assert_eq!(wait.retry_after(), Some(Duration::from_secs(2)));
    let inner: Generic<'_, u32, u64, ApiError> = Generic::Inner(ApiError::Conflict);
    assert!(inner.is_transient());

    // With axum on, every Problem is a response.
    let _ = axum::response::IntoResponse::into_response(Generic::<u32, u64, ApiError>::Wait(1));
}
