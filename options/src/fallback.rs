//! `#[fallback]`.

/// Every key of `#[fallback]` (besides the function written first).
pub const KEYS: &[&str] = &["when"];
