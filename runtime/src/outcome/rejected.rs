//! Why a layer refused or abandoned a call.

use std::convert::Infallible;
use std::time::Duration;

use crate::Classify;

/// A call that a resilience layer refused or abandoned.
///
/// Inside a stack of layers a rejection travels outward as a `Rejected`, so every outer layer
/// can tell it from the function's own error; the outermost layer converts it once with
/// `E::from(rejected)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The circuit breaker is open (or half-open with every trial slot taken).
    #[error("circuit breaker `{name}` is open; retry in {retry_in:?}")]
    CircuitOpen {
        /// The breaker's name.
        name: &'static str,
        /// How long until the breaker admits a trial call.
        retry_in: Duration,
    },
    /// Every slot of the bulkhead was taken for the whole wait.
    #[error("bulkhead `{name}` is full ({limit} calls in flight)")]
    BulkheadFull {
        /// The bulkhead's name.
        name: &'static str,
        /// Its limit of calls in flight.
        limit: usize,
    },
    /// The call did not finish in time and was dropped.
    #[error("timed out after {after:?}")]
    Timeout {
        /// The configured timeout.
        after: Duration,
    },
    /// The retry budget has no retries left.
    #[error("retry budget `{name}` is exhausted")]
    BudgetExhausted {
        /// The budget's name.
        name: &'static str,
    },
    /// The rate limiter had no turn free within the caller's wait.
    #[error("rate limiter `{name}` is saturated; retry in {retry_in:?}")]
    RateLimited {
        /// The limiter's name.
        name: &'static str,
        /// How long until the limiter has a turn free.
        retry_in: Duration,
    },
}

/// Retry stops at an open breaker and at an empty budget (more attempts only add load);
/// a full bulkhead or a timeout may clear on the next attempt, and a rate limiter has a turn
/// after its `retry_in`. A breaker counts a timeout against the dependency, and nothing else
/// that a layer decided.
impl Classify for Rejected {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::BulkheadFull { .. } | Self::Timeout { .. } | Self::RateLimited { .. }
        )
    }

    fn is_failure(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::CircuitOpen { retry_in, .. } | Self::RateLimited { retry_in, .. } => {
                Some(*retry_in)
            }
            _ => None,
        }
    }

    fn rejection(&self) -> Option<&Rejected> {
        Some(self)
    }
}

/// Lets a layer that cannot reject stand inside one that can.
impl From<Infallible> for Rejected {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}
