//! What an HTTP response says about a call: its status classes and its `Retry-After` (RFC 9110
//! §10.2.3), read once for every integration (reqwest's errors, tower's responses).

use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;

use super::{status_is_failure, status_is_transient};
use crate::{Classify, Rejected};

/// A response classified as `derive(Problem)` classifies a status: 5xx, 408 and 429 count
/// against a breaker, 408, 429, 500 and 502–504 are retried, and `Retry-After` (either form,
/// bounded by [`MAX_RETRY_AFTER`]) lengthens the next pause. A rejection that a staunch tower
/// layer answered as a problem response is classified as the rejection itself.
///
/// ```
/// use staunch::Classify;
///
/// let busy = http::Response::builder().status(503).header("retry-after", "7").body(()).unwrap();
/// assert!(busy.is_failure() && busy.is_transient());
/// assert_eq!(busy.retry_after(), Some(std::time::Duration::from_secs(7)));
/// let missing = http::Response::builder().status(404).body(()).unwrap();
/// assert!(!missing.is_failure() && !missing.is_transient());
/// ```
impl<B> Classify for http::Response<B> {
    fn is_transient(&self) -> bool {
        match self.rejection() {
            Some(rejected) => rejected.is_transient(),
            None => status_is_transient(self.status().as_u16()),
        }
    }

    fn is_failure(&self) -> bool {
        match self.rejection() {
            Some(rejected) => rejected.is_failure(),
            None => status_is_failure(self.status().as_u16()),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        retry_after_header(self.headers())
    }

    fn rejection(&self) -> Option<&Rejected> {
        self.extensions().get::<Rejected>()
    }
}

/// The `Retry-After` of `headers`, read against the system clock and bounded.
pub(crate) fn retry_after_header(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// The longest `Retry-After` believed: a hostile or broken header never stalls a caller for
/// longer (retry also caps each sleep by its `max_delay`).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, read
/// against `now`. A date in the past is no wait; anything longer than [`MAX_RETRY_AFTER`] is
/// cut to it; a malformed value is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use staunch::problem::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("999999999999", now), Some(staunch::problem::MAX_RETRY_AFTER));
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
