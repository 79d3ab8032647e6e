//! reqwest integration: `Classify` for `reqwest::Error`, and non-success responses as errors
//! that carry their status and `Retry-After`.

use std::time::{Duration, SystemTime};

use reqwest::header::RETRY_AFTER;

use crate::problem::{status_is_failure, status_is_transient};
use crate::{Classify, Problem};

/// The longest `Retry-After` believed: a hostile or broken header never stalls a caller for
/// longer (retry also caps each sleep by its `max_delay`).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

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
        let retry_after = self
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Err(HttpStatusError {
            status: status.as_u16(),
            retry_after,
            url: self.url().to_string(),
        })
    }
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, read
/// against `now`. A date in the past is no wait; anything longer than [`MAX_RETRY_AFTER`] is
/// cut to it; a malformed value is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use staunch::reqwest::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("999999999999", now), Some(staunch::reqwest::MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time": cap rather than reject.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_and_malformed_values_are_bounded_or_refused() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 5 ", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after(&"9".repeat(400), now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        for bad in ["", "-5", "1.5", "tomorrow", "Wed, 99 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
