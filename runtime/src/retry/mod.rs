//! Retry with backoff, jitter, Retry-After and an overall deadline, and the retry budget that
//! bounds what retries add to the load.

mod attempts;
mod budget;
mod builder;
mod config;
mod policy;

pub use self::attempts::{Attempts, Next, Verdict, seed_thread_jitter};
#[cfg(feature = "tower")]
pub(crate) use self::attempts::{Decision, deadline};
pub use self::budget::{BudgetConfig, BudgetMetrics, RetryBudget, RetryBudgetBuilder};
pub use self::builder::Retry;
pub use self::config::RetryConfig;
pub use self::policy::{Backoff, Jitter, RetryMetrics, RetryPolicy};
