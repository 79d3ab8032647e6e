//! Tokio time as plain nanoseconds, so instants fit in atomics.
//!
//! Every reading goes through `tokio::time::Instant`, so a paused test clock
//! (`#[tokio::test(start_paused = true)]`) drives breakers and retries without real sleeping.

use std::sync::OnceLock;
use std::time::Duration;

static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();

/// Nanoseconds since a process-wide origin, on tokio's clock.
pub(crate) fn now() -> u64 {
    // The origin lies an hour back so that a paused runtime created just before it was taken
    // still reads a positive time.
    let origin = *ORIGIN.get_or_init(|| {
        let real = std::time::Instant::now();
        real.checked_sub(Duration::from_secs(3600)).unwrap_or(real)
    });
    nanos(
        tokio::time::Instant::now()
            .into_std()
            .saturating_duration_since(origin),
    )
}

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
