//! The HTTP response of a problem, built once for every framework.

use http::StatusCode;

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
    /// The response of `problem`. A 5xx is logged at ERROR with its whole source chain; the
    /// body never shows it.
    pub fn of<P: Problem + 'static>(problem: &P) -> Self {
        let status =
            StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
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
}
