//! One definition of each option of staunch's policies: its name, default, accepted range and
//! the contradictions it can take part in, with the words that explain a refusal.
//!
//! Both front ends check values here: the attribute macros at compile time (mapping a
//! [`Violation`] onto the offending token) and the runtime's builders (mapping it onto a
//! `ConfigError`), so the two accept and refuse the same settings with the same message.
//! Use it through the `staunch` crate.

mod kinds;
mod suggest;

pub mod bulkhead;
pub mod cache;
pub mod circuit_breaker;
pub mod duration;
pub mod fallback;
pub mod hedge;
pub mod rate_limit;
pub mod retry;
pub mod retry_budget;
pub mod timeout;

pub use kinds::{Choice, Count, Factor, Name, Period, Ratio, Violation};
pub use suggest::nearest;
