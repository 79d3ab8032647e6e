//! `#[bulkhead]` and `Bulkhead`.

use std::time::Duration;

use crate::kinds::count;
use crate::{Count, Name, Period};

/// The largest `limit`: tokio's semaphore limit on every target (2^29 - 1).
pub const MAX_LIMIT: usize = 536_870_911;
/// The most calls in flight; required.
pub const LIMIT: Count = count!("limit", 1..=536_870_911, default None);
/// How long a caller waits for a slot; 0 rejects at once.
pub const MAX_WAIT: Period = Period {
    name: "max_wait",
    default: Some(Duration::ZERO),
    positive: false,
};
/// The name shared process-wide.
pub const NAME: Name = Name { name: "name" };

/// Every key of `#[bulkhead]`.
pub const KEYS: &[&str] = &["limit", "max_wait", "name"];

const _: () = assert!(LIMIT.max == MAX_LIMIT as u64);
