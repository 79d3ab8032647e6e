//! `#[hedge]` and `Hedge`.

use std::time::Duration;

use crate::kinds::count;
use crate::{Count, Name, Period};

/// How long an attempt may go unanswered before the next starts (Polly's default).
pub const DELAY: Period = Period {
    name: "delay",
    default: Some(Duration::from_secs(2)),
    positive: false,
};
/// Attempts in all, the first included: a hedge needs two at least.
pub const MAX: Count = count!("max", 2..=16, default Some(2));
/// The name in the registry, logs and metrics (by default the function's path).
pub const NAME: Name = Name { name: "name" };

/// Every key of `#[hedge]`.
pub const KEYS: &[&str] = &["delay", "max", "when", "name"];
