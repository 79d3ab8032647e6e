//! `#[timeout]` and `staunch::timeout`.

use crate::Period;

/// How long the inner call may take; required.
pub const AFTER: Period = Period {
    name: "after",
    default: None,
    positive: true,
};

/// Every key of `#[timeout]` (besides the duration written alone).
pub const KEYS: &[&str] = &["after"];
