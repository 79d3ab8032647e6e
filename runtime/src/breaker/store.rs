//! Where a breaker's state is shared beyond this process.
//!
//! Every decision reads the local state (one atomic word, on every call): it is the breaker's
//! own store, and for a breaker shared by a fleet, the cache of the fleet's state. A
//! [`BreakerStore`] is told what is worth sharing as it happens, off the hot path (a healthy
//! CLOSED call tells it nothing), and brings in what the rest of the fleet decided through
//! [`CircuitBreaker::adopt`].

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use super::{CircuitBreaker, CircuitState};
use crate::clock;
use crate::config::ConfigError;
use crate::sync::Ordering;

/// Shares a breaker's state with other processes: told each [`Record`] as it happens, it
/// brings the fleet's decisions back with [`CircuitBreaker::adopt`].
///
/// `record` runs on the caller's thread as the breaker takes the outcome in (a trial's
/// result is told before the transition it causes), and must not block or wait on a network:
/// queue the record (bounded) and send it elsewhere.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use staunch::circuit_breaker::{BreakerStore, Record};
/// use staunch::CircuitBreaker;
///
/// /// Keeps what a breaker shares, as a store's sending task would find it in its queue.
/// #[derive(Debug, Default)]
/// struct Queue(Mutex<Vec<(&'static str, Record)>>);
///
/// impl BreakerStore for Queue {
///     fn record(&self, breaker: &'static str, record: Record) {
///         self.0.lock().unwrap().push((breaker, record));
///     }
/// }
///
/// let queue = Arc::new(Queue::default());
/// let breaker = CircuitBreaker::builder("docs-store").fail_max(1).build().unwrap();
/// breaker.share_through(queue.clone()).unwrap();
/// breaker.force_open();
/// let shared = queue.0.lock().unwrap();
/// assert!(matches!(shared[0], ("docs-store", Record::Transition { .. })));
/// ```
pub trait BreakerStore: Send + Sync + fmt::Debug + 'static {
    /// Something worth sharing happened to the breaker named `breaker`.
    fn record(&self, breaker: &'static str, record: Record);
}

/// What a breaker tells its [`BreakerStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A call admitted in CLOSED failed, or (window policy) was slow.
    Call {
        /// It counted as a failure.
        failed: bool,
        /// It lasted longer than `slow_call`.
        slow: bool,
    },
    /// The first success after failures (consecutive policy): the run of failures ended.
    Recovered,
    /// A HALF_OPEN trial finished.
    Trial {
        /// It counted as a failure.
        failed: bool,
        /// It lasted longer than `slow_call`.
        slow: bool,
    },
    /// The local breaker changed state on its own (a change [`adopted`](CircuitBreaker::adopt)
    /// from the store is not told back).
    Transition {
        /// The state it left.
        from: CircuitState,
        /// The state it entered.
        to: CircuitState,
        /// How long it stays OPEN, when `to` is OPEN.
        open_for: Option<Duration>,
    },
}

/// A state decided elsewhere, for [`CircuitBreaker::adopt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharedState {
    /// Closed, with the local counts cleared.
    Closed,
    /// Open for `remaining` more.
    Open {
        /// How long until it may try HALF_OPEN.
        remaining: Duration,
    },
    /// Held open until forced closed.
    ForcedOpen,
}

impl CircuitBreaker {
    /// Shares this breaker's state through `store` from now on: the store is told every
    /// [`Record`] worth sharing.
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] when the breaker already shares through a store.
    pub fn share_through(&self, store: Arc<dyn BreakerStore>) -> Result<(), ConfigError> {
        self.store
            .set(store)
            .map_err(|_| ConfigError::Conflict("store", "the store the breaker shares through"))
    }

    /// Whether the breaker shares its state through a [`BreakerStore`].
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.store.get().is_some()
    }

    /// Takes in a state decided elsewhere (by the fleet, through the store): from the next call
    /// on, the breaker is in `state`. Not told back to the store. A breaker forced open here
    /// stays so when told OPEN; CLOSED and FORCED_OPEN replace any state.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::circuit_breaker::SharedState;
    /// use staunch::{CircuitBreaker, CircuitState};
    ///
    /// let breaker = CircuitBreaker::builder("docs-adopt").build().unwrap();
    /// breaker.adopt(SharedState::Open { remaining: Duration::from_secs(20) });
    /// assert_eq!(breaker.state(), CircuitState::Open);
    /// breaker.adopt(SharedState::Closed);
    /// assert_eq!(breaker.state(), CircuitState::Closed);
    /// ```
    pub fn adopt(&self, state: SharedState) {
        match state {
            SharedState::Closed => self.move_to(CircuitState::Closed, Origin::Store),
            SharedState::ForcedOpen => self.move_to(CircuitState::ForcedOpen, Origin::Store),
            SharedState::Open { remaining } => {
                let until = clock::now().saturating_add(clock::nanos(remaining));
                let mut word = self.load();
                // A breaker held open here stays held.
                while word.state() != CircuitState::ForcedOpen {
                    // Stored before OPEN is published, as in `trip`. An open breaker moves to
                    // a new OPEN period too: a caller that read the old deadline and is about
                    // to start HALF_OPEN fails its exchange and reads the new one.
                    self.open_until.store(until, Ordering::Relaxed);
                    match self.exchange(word, word.next(CircuitState::Open)) {
                        Ok(()) => {
                            if word.state() != CircuitState::Open {
                                self.transitioned_from(
                                    Origin::Store,
                                    word.state(),
                                    CircuitState::Open,
                                );
                            }
                            break;
                        }
                        Err(current) => word = current,
                    }
                }
            }
        }
    }

    /// The window's calls, failures and slow calls while CLOSED (window policy), for a store
    /// that adds up a fleet's windows.
    pub(crate) fn window_counts(&self) -> Option<super::window::Counts> {
        match &self.counting {
            super::Counting::FailureRate { window, .. }
                if self.load().state() == CircuitState::Closed =>
            {
                Some(window.counts())
            }
            _ => None,
        }
    }

    /// Tells the store, if any, what happened. A store that panics loses that record, not
    /// the breaker's own bookkeeping (a trial slot, a transition half made).
    #[inline]
    pub(super) fn share(&self, record: Record) {
        if let Some(store) = self.store.get() {
            let told = panic::catch_unwind(AssertUnwindSafe(|| store.record(self.name, record)));
            if told.is_err() {
                tracing::error!(target: "staunch", breaker = self.name, ?record, "the breaker's store panicked");
            }
        }
    }
}

/// Where a change of state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// This process's calls, or its user forcing a state.
    Local,
    /// The store, which is not told its own decisions back.
    Store,
}
