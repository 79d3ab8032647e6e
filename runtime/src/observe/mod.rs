//! One stream of events from every policy, and its sinks.
//!
//! A policy reports what it did through the emitters below, and nothing else: the sinks (the
//! `tracing` events of target `staunch`, the `subscribe()` of each named instance, the
//! registry's stream of everything) are this module's concern, so adding one touches no
//! policy. An event costs nothing but its `tracing` call until somebody subscribes.

mod counts;
mod event;
mod hub;
#[cfg(feature = "axum")]
pub(crate) mod recent;
#[cfg(any(feature = "metrics", feature = "axum"))]
mod tally;

#[cfg(feature = "metrics")]
pub(crate) use self::tally::publish as publish_tallies;

use std::fmt;
use std::time::Duration;

pub(crate) use self::counts::{
    CallOutcome, RetryOutcome, Tally, breaker_successes, bulkhead_admissions, cache_hits,
    first_successes, rate_limit_admissions,
};
pub(crate) use self::event::millis;
pub use self::event::{CircuitState, Event, InstanceKind};
pub use self::hub::Hub;
use crate::Rejected;

/// Every event of the process, for [`crate::Registry::subscribe`].
pub(crate) fn everything() -> &'static Hub {
    static EVERYTHING: Hub = Hub::new();
    &EVERYTHING
}

/// The rare events of the process (transitions, changes and conflicts of settings), for the
/// dashboard: its subscribers never make a rejection or a retry build an event.
#[cfg(feature = "axum")]
pub(crate) fn rare() -> &'static Hub {
    static RARE: Hub = Hub::new();
    &RARE
}

/// Sends a rare `event` to the subscribers of its instance, of the whole process and of the
/// rare events.
fn publish_rare(own: &Hub, event: impl FnOnce() -> Event) {
    #[cfg(feature = "axum")]
    if hub::anybody_listens() && rare().is_listened() {
        let event = event();
        rare().send(&event);
        if own.is_listened() || everything().is_listened() {
            own.send(&event);
            everything().send(&event);
        }
        return;
    }
    publish(own, event);
}

/// Sends `event` to the subscribers of its instance and of the whole process.
fn publish(own: &Hub, event: impl FnOnce() -> Event) {
    if hub::anybody_listens() && (own.is_listened() || everything().is_listened()) {
        let event = event();
        own.send(&event);
        everything().send(&event);
    }
}

/// Hedge `name` started attempt number `attempt` beside one unanswered for `after` (or
/// failed). At DEBUG: a slow dependency makes one per slow call.
pub(crate) fn hedged(own: &Hub, name: &'static str, attempt: u32, after: Duration) {
    tracing::debug!(
        target: "staunch",
        hedge = name,
        attempt,
        after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        "hedging: another attempt beside a slow one"
    );
    #[cfg(feature = "metrics")]
    crate::metrics::hedged(own.keys(name));
    publish(own, || Event::Hedged {
        name,
        attempt,
        after,
    });
}

/// Cache `name` served an answer cached `age` ago because the call failed. At DEBUG: a
/// dependency down makes one per call, and the metric counts them.
pub(crate) fn served_stale(own: &Hub, name: &'static str, age: Duration) {
    tracing::debug!(
        target: "staunch",
        cache = name,
        age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
        "serving a stale answer: the call failed"
    );
    #[cfg(feature = "metrics")]
    crate::metrics::served_stale(own.keys(name));
    publish(own, || Event::ServedStale { name, age });
}

/// A failed attempt of `name` will be retried after `delay`.
pub(crate) fn retry_scheduled(
    own: &Hub,
    name: &'static str,
    attempt: u32,
    delay: Duration,
    error: &dyn fmt::Display,
) {
    tracing::warn!(
        target: "staunch",
        function = name,
        attempt,
        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        error = %error,
        "retrying after a failed attempt"
    );
    // The failed attempt is counted now, so a call retrying for minutes shows its attempts as
    // they happen; its last attempt is counted with its outcome.
    #[cfg(feature = "metrics")]
    crate::metrics::retry_attempt(own.keys(name));
    publish(own, || Event::RetryScheduled {
        name,
        attempt,
        delay,
        error: error.to_string(),
    });
}

/// The retry budget `budget` refused a retry of `name`.
pub(crate) fn budget_spent(
    own: &Hub,
    name: &'static str,
    budget: &'static str,
    attempt: u32,
    rejects: bool,
) {
    tracing::warn!(
        target: "staunch",
        function = name,
        budget,
        attempt,
        rejects,
        "retry budget spent; no more retries"
    );
    publish(own, || Event::BudgetSpent {
        name: budget,
        function: name,
        attempt,
    });
}

/// Breaker `name` went from `from` to `to`.
pub(crate) fn transition(own: &Hub, name: &'static str, from: CircuitState, to: CircuitState) {
    tracing::warn!(
        target: "staunch",
        breaker = name,
        from = ?from,
        to = ?to,
        "circuit breaker changed state"
    );
    #[cfg(feature = "metrics")]
    crate::metrics::transition(own.keys(name), from, to);
    #[cfg(feature = "axum")]
    recent::remember(name, from, to);
    publish_rare(own, || Event::Transition { name, from, to });
}

/// Breaker, bulkhead or rate limiter `name` (of `kind`) refused a call. No `tracing` event, as a rejection
/// can come once per call; and until somebody subscribes anywhere, one load (and the count of
/// the metrics sink).
#[inline]
pub(crate) fn rejected(
    own: &Hub,
    kind: InstanceKind,
    name: &'static str,
    rejected: impl FnOnce() -> Rejected,
) {
    call_ended(own, kind, name, CallOutcome::Rejected);
    if hub::anybody_listens() {
        rejected_slow(own, name, rejected());
    }
}

#[inline(never)]
fn rejected_slow(own: &Hub, name: &'static str, rejected: Rejected) {
    publish(own, || Event::Rejected { name, rejected });
}

/// A call of breaker or bulkhead `name` (of `kind`) ended as `outcome`, off the hot path (a
/// success there is counted by a [`Tally`]).
#[inline]
pub(crate) fn call_ended(own: &Hub, kind: InstanceKind, name: &'static str, outcome: CallOutcome) {
    #[cfg(feature = "metrics")]
    crate::metrics::call(own, name, kind, outcome);
    #[cfg(not(feature = "metrics"))]
    let _ = (own, kind, name, outcome);
}

/// A call of breaker `name` that it timed took `duration`.
#[inline]
pub(crate) fn call_timed(own: &Hub, name: &'static str, outcome: CallOutcome, duration: Duration) {
    #[cfg(feature = "metrics")]
    crate::metrics::call_duration(own.keys(name), outcome, duration);
    #[cfg(not(feature = "metrics"))]
    let _ = (own, name, outcome, duration);
}

/// A call of retry policy `name` succeeded, after retries or without any. The first success
/// of a call that never failed is counted by `first_successes`, per thread.
#[inline]
pub(crate) fn retry_succeeded(
    own: &Hub,
    first_successes: &Tally,
    name: &'static str,
    retried: bool,
) {
    if retried {
        retry_ended(own, name, RetryOutcome::SuccessWithRetry);
    } else {
        // Only the metrics sink reads it (the dashboard charts retries, not calls).
        #[cfg(feature = "metrics")]
        first_successes.add();
        #[cfg(not(feature = "metrics"))]
        let _ = first_successes;
    }
}

/// A call of retry policy `name` failed, after retries or without any.
pub(crate) fn retry_failed(own: &Hub, name: &'static str, retried: bool) {
    let outcome = if retried {
        RetryOutcome::FailureWithRetry
    } else {
        RetryOutcome::FailureWithoutRetry
    };
    retry_ended(own, name, outcome);
}

/// A call ended with `outcome`, its last attempt with it (the others were counted as they were
/// retried).
#[cold]
fn retry_ended(own: &Hub, name: &'static str, outcome: RetryOutcome) {
    #[cfg(feature = "metrics")]
    crate::metrics::retry_ended(own.keys(name), outcome);
    #[cfg(not(feature = "metrics"))]
    let _ = (own, name, outcome);
}

/// The settings of instance `name` changed from `old` to `new` (configurations, serialized as
/// the settings they amount to).
pub(crate) fn settings_changed(
    own: &Hub,
    kind: InstanceKind,
    name: &'static str,
    old: &impl serde::Serialize,
    new: &impl serde::Serialize,
) {
    let (old, new) = (as_value(old), as_value(new));
    tracing::info!(
        target: "staunch",
        kind = kind.as_str(),
        name,
        old = %old,
        new = %new,
        "settings changed"
    );
    publish_rare(own, || Event::SettingsChanged {
        kind,
        name,
        old,
        new,
    });
}

/// One name was used with conflicting settings: `ignored` is not in force, because of what
/// `decided_by` says.
pub(crate) fn settings_conflict(
    own: &Hub,
    kind: InstanceKind,
    name: &'static str,
    in_force: &impl serde::Serialize,
    ignored: &impl serde::Serialize,
    decided_by: &str,
) {
    let (in_force, ignored) = (as_value(in_force), as_value(ignored));
    // The field names the kind: `breaker = "payments"`.
    macro_rules! conflict {
        ($field:ident, $what:literal) => {
            tracing::error!(
                target: "staunch",
                $field = name,
                in_force = %in_force,
                ignored = %ignored,
                decided_by,
                concat!($what, " used with conflicting settings; in force: what {} says"),
                decided_by,
            )
        };
    }
    match kind {
        InstanceKind::CircuitBreaker => conflict!(breaker, "circuit breaker"),
        InstanceKind::Bulkhead => conflict!(bulkhead, "bulkhead"),
        InstanceKind::Retry => conflict!(retry, "retry policy"),
        InstanceKind::RetryBudget => conflict!(budget, "retry budget"),
        InstanceKind::RateLimit => conflict!(rate_limit, "rate limiter"),
        InstanceKind::Hedge => conflict!(hedge, "hedge"),
        InstanceKind::Cache => conflict!(cache, "cache"),
    }
    publish_rare(own, || Event::SettingsConflict {
        kind,
        name,
        in_force,
        ignored,
        decided_by: decided_by.to_owned(),
    });
}

fn as_value(settings: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(settings).unwrap_or_default()
}
