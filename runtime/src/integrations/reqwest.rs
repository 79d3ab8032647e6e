//! reqwest integration: `Classify` for `reqwest::Error`, and non-success responses as errors
//! that carry their status and `Retry-After`.

use std::time::Duration;

pub use crate::problem::{MAX_RETRY_AFTER, parse_retry_after};
use crate::problem::{retry_after_header, status_is_failure, status_is_transient};
use crate::{Classify, Problem};

/// Connection failures and timeouts are transient and count against a breaker; an error
/// carrying a status is classified by it (408, 429, 5xx); anything else (a body that failed to
/// decode, a bad URL) is the caller's problem.
impl Classify for reqwest::Error {
    fn is_transient(&self) -> bool {
        match self.status() {
            Some(status) => status_is_transient(status.as_u16()),
            None => self.is_connect() || self.is_timeout(),
        }
    }

    fn is_failure(&self) -> bool {
        match self.status() {
            Some(status) => status_is_failure(status.as_u16()),
            None => self.is_connect() || self.is_timeout() || self.is_request(),
        }
    }
}

/// A response whose status was not a success, with what a retry needs from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url} answered {status}")]
pub struct HttpStatusError {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` of the response, bounded by [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
    /// The URL that answered.
    pub url: String,
}

impl Classify for HttpStatusError {
    fn is_transient(&self) -> bool {
        status_is_transient(self.status)
    }
    fn is_failure(&self) -> bool {
        status_is_failure(self.status)
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// A dependency's failure is this service's 502 (or 504 when the dependency timed out): the
/// client learns that a dependency failed, not which one.
impl Problem for HttpStatusError {
    fn status(&self) -> u16 {
        if self.status == 504 { 504 } else { 502 }
    }
}

/// Turns a non-success response into an [`HttpStatusError`].
pub trait ResponseExt: Sized {
    /// The response itself when its status is a success (2xx), else its status and
    /// `Retry-After` as an error.
    ///
    /// # Errors
    /// [`HttpStatusError`] for a status outside 2xx.
    fn error_for_status_classified(self) -> Result<Self, HttpStatusError>;
}

impl ResponseExt for reqwest::Response {
    fn error_for_status_classified(self) -> Result<Self, HttpStatusError> {
        let status = self.status();
        if status.is_success() {
            return Ok(self);
        }
        let retry_after = retry_after_header(self.headers());
        Err(HttpStatusError {
            status: status.as_u16(),
            retry_after,
            url: self.url().to_string(),
        })
    }
}
