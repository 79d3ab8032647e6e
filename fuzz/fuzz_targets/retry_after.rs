//! `Retry-After` (RFC 9110 §10.2.3) from a hostile server: never panics, never longer than
//! `MAX_RETRY_AFTER`; delay-seconds and HTTP-dates mean what they say.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use staunch_runtime::integrations::reqwest::{MAX_RETRY_AFTER, parse_retry_after};

/// The last second an HTTP-date can name (31 Dec 9999 23:59:59 GMT).
const LAST_DATE: u64 = 253_402_300_799;

fuzz_target!(|input: (&str, u64, u64)| {
    let (value, now, ahead) = input;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now % LAST_DATE);
    let parsed = parse_retry_after(value, now);
    if let Some(wait) = parsed {
        assert!(wait <= MAX_RETRY_AFTER, "{value:?} -> {wait:?}");
    }
    let trimmed = value.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = trimmed.parse::<u64>().unwrap_or(u64::MAX);
        assert_eq!(
            parsed,
            Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER)),
            "{value:?}"
        );
    }
    // A date `ahead` seconds from now, as a server writes it, is that long a wait (capped).
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ahead = ahead % (LAST_DATE - now_secs + 1);
    let date = httpdate::fmt_http_date(now + Duration::from_secs(ahead));
    assert_eq!(
        parse_retry_after(&date, now),
        Some(Duration::from_secs(ahead).min(MAX_RETRY_AFTER)),
        "{date}"
    );
});
