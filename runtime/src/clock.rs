//! Tokio time as plain nanoseconds, so instants fit in atomics.
//!
//! Every reading goes through `tokio::time::Instant`, so a paused test clock
//! (`#[tokio::test(start_paused = true)]`) drives breakers and retries without real sleeping.

#[cfg(not(loom))]
use std::sync::OnceLock;
use std::time::Duration;

#[cfg(not(loom))]
static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();

#[cfg(loom)]
pub(crate) use loom_clock::{now, set};

/// Under loom: the time the model set, so that every execution reads the same. Loom runs the
/// threads of a model on the test's own thread, so a thread-local is the model's clock.
#[cfg(loom)]
mod loom_clock {
    use std::cell::Cell;

    std::thread_local! {
        static NOW: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn set(nanos: u64) {
        NOW.set(nanos);
    }

    pub(crate) fn now() -> u64 {
        NOW.get()
    }
}

/// Nanoseconds since a process-wide origin, on tokio's clock.
#[cfg(not(loom))]
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

/// A duration in nanoseconds, saturating at `u64::MAX` (about 584 years). In 64-bit
/// arithmetic: `as_nanos` multiplies in 128 bits, on the rejection path of an open breaker.
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}
