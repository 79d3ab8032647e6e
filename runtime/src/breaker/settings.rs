//! The settings a running breaker reads, changeable while calls go through it.
//!
//! Each is an atomic read where it is needed, so a change reaches the next call that needs it;
//! the settings as given are kept beside them, exactly, for `config()` and the snapshot.

use super::{BreakerConfig, Mode, Trip};
use crate::clock;
use crate::sync::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

#[derive(Debug)]
pub(super) struct Settings {
    mode: AtomicU8,
    /// Nanoseconds; zero when slow calls are not tracked.
    slow_after: AtomicU64,
    slow_rate: AtomicU8,
    /// Nanoseconds.
    reset: AtomicU64,
    half_open: AtomicU32,
    /// Consecutive policy.
    fail_max: AtomicU32,
    /// Window policy.
    failure_rate: AtomicU8,
    min_calls: AtomicU32,
    applied: Mutex<BreakerConfig>,
    /// The settings it was created with, against which other call sites naming it are checked
    /// (settings applied at run time take precedence over theirs).
    pub(super) created: BreakerConfig,
}

impl Settings {
    pub(super) fn new(config: BreakerConfig) -> Self {
        let settings = Self {
            mode: AtomicU8::new(0),
            slow_after: AtomicU64::new(0),
            slow_rate: AtomicU8::new(0),
            reset: AtomicU64::new(0),
            half_open: AtomicU32::new(0),
            fail_max: AtomicU32::new(0),
            failure_rate: AtomicU8::new(0),
            min_calls: AtomicU32::new(0),
            applied: Mutex::new(config),
            created: config,
        };
        settings.store(config);
        settings
    }

    /// Puts `config` in force. Its shape (the trip policy and the window's length) is the
    /// breaker's own and was checked by the caller.
    pub(super) fn store(&self, config: BreakerConfig) {
        let (slow_after, slow_rate) = config
            .slow
            .map_or((0, 0), |slow| (clock::nanos(slow.after).max(1), slow.rate));
        // The rate before the duration that turns tracking on, and a rate of zero reads as
        // not tracked: a call recorded in between never judges slow calls against zero.
        self.slow_rate.store(slow_rate, Ordering::Relaxed);
        self.slow_after.store(slow_after, Ordering::Release);
        self.reset
            .store(clock::nanos(config.reset), Ordering::Relaxed);
        self.mode.store(config.mode as u8, Ordering::Relaxed);
        self.half_open
            .store(u32::from(config.half_open), Ordering::Relaxed);
        match config.trip {
            Trip::Consecutive { fail_max } => self.fail_max.store(fail_max, Ordering::Relaxed),
            Trip::FailureRate {
                failure_rate,
                min_calls,
                ..
            } => {
                self.failure_rate.store(failure_rate, Ordering::Relaxed);
                self.min_calls.store(min_calls, Ordering::Relaxed);
            }
        }
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// The settings in force, as given.
    pub(super) fn config(&self) -> BreakerConfig {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings it was created with.
    pub(super) fn created(&self) -> BreakerConfig {
        self.created
    }

    /// Whether calls are timed: on the hot path, one load.
    #[inline]
    pub(super) fn times_calls(&self) -> bool {
        self.slow_after.load(Ordering::Relaxed) != 0
    }

    /// Whether a call of `elapsed` nanoseconds is slow: strictly longer than `slow_call`.
    pub(super) fn is_slow(&self, elapsed: u64) -> bool {
        let after = self.slow_after.load(Ordering::Relaxed);
        after != 0 && elapsed > after
    }

    /// The slow rate that opens the breaker, when slow calls are tracked.
    pub(super) fn slow_rate(&self) -> Option<u8> {
        if self.slow_after.load(Ordering::Acquire) == 0 {
            return None;
        }
        Some(self.slow_rate.load(Ordering::Relaxed)).filter(|rate| *rate != 0)
    }

    /// What the breaker does with its verdict: read off the hot path only.
    pub(super) fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Relaxed) {
            1 => Mode::Observe,
            2 => Mode::Disabled,
            _ => Mode::Enforce,
        }
    }

    /// Whether the breaker refuses calls (`Mode::Enforce`): one load where it would refuse.
    #[inline]
    pub(super) fn enforces(&self) -> bool {
        self.mode.load(Ordering::Relaxed) == Mode::Enforce as u8
    }

    /// How long OPEN lasts, in nanoseconds.
    #[inline]
    pub(super) fn reset_nanos(&self) -> u64 {
        self.reset.load(Ordering::Relaxed)
    }

    pub(super) fn half_open(&self) -> u64 {
        u64::from(self.half_open.load(Ordering::Relaxed))
    }

    pub(super) fn fail_max(&self) -> u32 {
        self.fail_max.load(Ordering::Relaxed)
    }

    pub(super) fn failure_rate(&self) -> u8 {
        self.failure_rate.load(Ordering::Relaxed)
    }

    pub(super) fn min_calls(&self) -> u32 {
        self.min_calls.load(Ordering::Relaxed)
    }
}

/// Whether `a` and `b` can be swapped in place: the same trip policy, with the same window.
pub(super) fn same_shape(a: &BreakerConfig, b: &BreakerConfig) -> bool {
    match (a.trip, b.trip) {
        (Trip::Consecutive { .. }, Trip::Consecutive { .. }) => true,
        (Trip::FailureRate { window: x, .. }, Trip::FailureRate { window: y, .. }) => x == y,
        _ => false,
    }
}
