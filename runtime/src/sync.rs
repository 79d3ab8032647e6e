//! The atomics of the lock-free state machines: std's, or loom's when model checking
//! (`RUSTFLAGS="--cfg loom"`, see `tests/loom.rs`), so loom sees every access to them.
//!
//! Only the breaker, the bulkhead and the rate limiter take theirs from here: retry statistics and the call
//! sites' slots live in `static`s, which need std's `const fn new`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;
