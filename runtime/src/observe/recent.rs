//! The last transitions of every breaker, for a dashboard opened after them.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::CircuitState;

/// How many are kept: the page's timeline shows as many.
pub(crate) const KEPT: usize = 50;

/// A transition, with when it happened.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Recent {
    /// Milliseconds since the Unix epoch.
    at_ms: u64,
    name: &'static str,
    from: CircuitState,
    to: CircuitState,
}

static RECENT: Mutex<VecDeque<Recent>> = Mutex::new(VecDeque::new());

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Keeps a transition, forgetting the oldest beyond [`KEPT`].
pub(crate) fn remember(name: &'static str, from: CircuitState, to: CircuitState) {
    let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
    if recent.len() == KEPT {
        recent.pop_front();
    }
    recent.push_back(Recent {
        at_ms: now_ms(),
        name,
        from,
        to,
    });
}

/// The transitions kept, the newest first.
pub(crate) fn recent() -> Vec<Recent> {
    let recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
    recent.iter().rev().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_transitions_newest_first() {
        for _ in 0..KEPT {
            remember("recent-old", CircuitState::Closed, CircuitState::Open);
        }
        remember("recent-new", CircuitState::Open, CircuitState::HalfOpen);
        let recent = recent();
        assert_eq!(recent.len(), KEPT, "bounded");
        assert_eq!(recent[0].name, "recent-new");
        assert!(recent[0].at_ms >= recent[KEPT - 1].at_ms);
    }
}
