//! The HTTP response of a problem, built once for every framework.

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};

use super::{Chain, Problem};

/// The media type of a problem body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a problem's response carries, whatever the framework: each integration turns it into
/// its own response type, so that axum and actix answer alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemResponse {
    /// The problem's status (500 for a code that is not one).
    pub status: StatusCode,
    /// `Retry-After` in whole seconds, rounded up, when the problem has one.
    pub retry_after: Option<u64>,
    /// The details as `application/problem+json`.
    pub body: Vec<u8>,
}

impl ProblemResponse {
    /// The response of `problem`. A 5xx is logged at ERROR with its whole source chain (the
    /// body never shows it), except a rejection: the instance that refused the call counts it
    /// (metrics, the event stream), and a service shedding load would otherwise log an ERROR per
    /// request.
    pub fn of<P: Problem + 'static>(problem: &P) -> Self {
        let status =
            StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() && problem.rejection().is_none() {
            tracing::error!(
                target: "staunch",
                status = status.as_u16(),
                error = %Chain(problem),
                "request failed with a server error"
            );
        }
        // Saturating: `Duration::MAX` has a fraction too.
        let retry_after = problem.retry_after().map(|after| {
            after
                .as_secs()
                .saturating_add(u64::from(after.subsec_nanos() > 0))
        });
        Self {
            status,
            retry_after,
            body: serde_json::to_vec(&problem.to_details(None)).unwrap_or_default(),
        }
    }

    /// The response as an [`http::Response`]: its status, `content-type:
    /// application/problem+json`, `Retry-After` when it has one, and the body.
    ///
    /// ```
    /// let open = staunch::Rejected::CircuitOpen { name: "db", retry_in: std::time::Duration::from_millis(1500) };
    /// let response: http::Response<Vec<u8>> = staunch::ProblemResponse::of(&open).into_http();
    /// assert_eq!(response.status(), 503);
    /// assert_eq!(response.headers()["retry-after"], "2");
    /// assert_eq!(response.headers()["content-type"], staunch::PROBLEM_JSON);
    /// ```
    #[must_use]
    pub fn into_http<B: From<Vec<u8>>>(self) -> http::Response<B> {
        let mut response = http::Response::new(B::from(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
