//! What the stream carries.

use std::time::Duration;

use crate::Rejected;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until `reset` has passed.
    Open,
    /// A few trial calls decide between closing and opening again.
    HalfOpen,
    /// Held open by [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open) until [`CircuitBreaker::force_closed`](crate::CircuitBreaker::force_closed)
    /// or [`CircuitBreaker::reset`](crate::CircuitBreaker::reset): calls are rejected, and no trial is admitted.
    ForcedOpen,
}

/// The kinds of named instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceKind {
    /// A circuit breaker.
    CircuitBreaker,
    /// A bulkhead.
    Bulkhead,
    /// A retry policy.
    Retry,
    /// A retry budget.
    RetryBudget,
    /// A rate limiter.
    RateLimit,
    /// A hedge.
    Hedge,
    /// A cache.
    Cache,
}

impl InstanceKind {
    /// Every kind, in the snapshot's order.
    pub const ALL: [Self; 7] = [
        Self::CircuitBreaker,
        Self::Bulkhead,
        Self::Retry,
        Self::RetryBudget,
        Self::RateLimit,
        Self::Hedge,
        Self::Cache,
    ];

    /// The kind as the attribute (and the snapshot) spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitBreaker => "circuit_breaker",
            Self::Bulkhead => "bulkhead",
            Self::Retry => "retry",
            Self::RetryBudget => "retry_budget",
            Self::RateLimit => "rate_limit",
            Self::Hedge => "hedge",
            Self::Cache => "cache",
        }
    }
}

/// Something a policy did that its operator may want to see, as
/// [`Registry::subscribe`](crate::Registry::subscribe) and each instance's `subscribe()`
/// deliver it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A failed attempt will be retried after `delay`.
    RetryScheduled {
        /// The retry policy (the function's name for `#[retry]`).
        name: &'static str,
        /// The attempt that failed, the first being 1.
        attempt: u32,
        /// The pause before the next attempt.
        #[serde(serialize_with = "millis")]
        delay: Duration,
        /// The error, displayed.
        error: String,
    },
    /// A hedge started another attempt beside a slow one.
    Hedged {
        /// The hedge (the function's name for `#[hedge]`).
        name: &'static str,
        /// The attempt started, the first being 1.
        attempt: u32,
        /// How long the attempts before it had gone unanswered (the hedge's `delay`).
        #[serde(serialize_with = "millis")]
        after: Duration,
    },
    /// A cache served a stale answer because the call failed.
    ServedStale {
        /// The cache (the function's name for `#[cache]`).
        name: &'static str,
        /// How long ago the answer was cached.
        #[serde(serialize_with = "millis")]
        age: Duration,
    },
    /// A retry budget refused a retry.
    BudgetSpent {
        /// The budget.
        name: &'static str,
        /// The retry policy that wanted to retry.
        function: &'static str,
        /// The attempt that failed last.
        attempt: u32,
    },
    /// A circuit breaker changed state.
    Transition {
        /// The breaker.
        name: &'static str,
        /// The state it left.
        from: CircuitState,
        /// The state it entered.
        to: CircuitState,
    },
    /// A breaker, a bulkhead or a rate limiter refused a call.
    Rejected {
        /// The breaker or bulkhead.
        name: &'static str,
        /// What it answered.
        #[serde(serialize_with = "displayed")]
        rejected: Rejected,
    },
    /// The settings of a named instance changed while it runs.
    SettingsChanged {
        /// The kind of instance.
        kind: InstanceKind,
        /// Its name.
        name: &'static str,
        /// The settings it had, under the options' names (`{"fail_max": 5, "reset": "1m"}`).
        old: serde_json::Value,
        /// The settings in force now.
        new: serde_json::Value,
    },
    /// One name was used with conflicting settings.
    SettingsConflict {
        /// The kind of instance.
        kind: InstanceKind,
        /// Its name.
        name: &'static str,
        /// The settings in force.
        in_force: serde_json::Value,
        /// The settings not taken.
        ignored: serde_json::Value,
        /// What decided: `"the call site that used the name first"`, `"build_shared"`,
        /// `"settings from staunch.toml"`, `"a change at run time"`.
        decided_by: String,
    },
}

impl Event {
    /// The name of the instance the event is about.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::RetryScheduled { name, .. }
            | Self::Hedged { name, .. }
            | Self::ServedStale { name, .. }
            | Self::BudgetSpent { name, .. }
            | Self::Transition { name, .. }
            | Self::Rejected { name, .. }
            | Self::SettingsChanged { name, .. }
            | Self::SettingsConflict { name, .. } => name,
        }
    }
}

pub(crate) fn millis<S: serde::Serializer>(
    delay: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(delay.as_millis())
}

fn displayed<S: serde::Serializer>(rejected: &Rejected, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(rejected)
}
