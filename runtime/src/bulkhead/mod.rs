//! The bulkhead: at most `limit` calls in flight.
//!
//! Without `max_wait` a slot is one compare-and-swap on a counter; with it, a tokio semaphore
//! queues callers fairly and the wait is bounded by a timer. The limit can change while calls
//! run: the counter compares against the limit in force, and the semaphore gains permits, or
//! forgets free ones and owes the rest, paid as calls in flight give theirs back.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::ConfigError;
use crate::observe::{self, Event, Hub, InstanceKind, Tally};
use crate::outcome::{finish, lift};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::{Rejected, clock};

mod config;
mod guard;

pub use self::config::{BulkheadBuilder, BulkheadConfig};
#[cfg(feature = "tower")]
pub(crate) use self::guard::Slot;
pub use self::guard::guard;

/// At most `limit` calls in flight; the others wait up to `max_wait`, then are rejected.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use staunch::{Bulkhead, Rejected};
///
/// let bulkhead = Bulkhead::builder(10).name("inventory").build().unwrap();
/// let stock: Result<u32, Rejected> = bulkhead.call(|| async { Ok(7) }).await;
/// assert_eq!(stock, Ok(7));
/// assert_eq!(bulkhead.metrics().in_flight, 0);
/// # }
/// ```
#[derive(Debug)]
pub struct Bulkhead {
    name: &'static str,
    /// The limit in force: a change reaches the next admission.
    limit: AtomicUsize,
    slots: Slots,
    rejected: AtomicU64,
    /// Calls let in, for metrics: counted per thread.
    admissions: Tally,
    /// Serializes changes of settings.
    changing: Mutex<()>,
    /// The settings it was created with: other call sites naming it are checked against them.
    created: BulkheadConfig,
    hub: Hub,
}

#[derive(Debug)]
enum Slots {
    /// Reject at once: a plain counter of calls in flight.
    Counter(AtomicUsize),
    /// Wait up to `max_wait` in a fair queue.
    Queue {
        semaphore: Semaphore,
        max_wait: AtomicU64,
        /// Permits to forget as calls give them back, after a shrink below the free ones.
        owed: AtomicUsize,
    },
}

/// Counters of a bulkhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BulkheadMetrics {
    /// Its limit of calls in flight.
    pub limit: usize,
    /// Calls in flight now.
    pub in_flight: usize,
    /// Calls refused since creation.
    pub rejected: u64,
    /// Calls let in since creation, as each thread last counted them (with the `metrics` or
    /// `axum` feature).
    pub admitted: Option<u64>,
}

impl Bulkhead {
    /// The largest `limit`, in the attribute and the builders alike: tokio's semaphore limit
    /// on every target (2^29 - 1).
    pub const MAX_LIMIT: usize = staunch_options::bulkhead::MAX_LIMIT;

    /// A bulkhead with validated settings.
    #[must_use]
    pub fn with_config(config: BulkheadConfig) -> Self {
        let slots = if config.max_wait.is_zero() {
            Slots::Counter(AtomicUsize::new(0))
        } else {
            Slots::Queue {
                semaphore: Semaphore::new(config.limit),
                max_wait: AtomicU64::new(clock::nanos(config.max_wait)),
                owed: AtomicUsize::new(0),
            }
        };
        Self {
            name: config.name,
            limit: AtomicUsize::new(config.limit),
            slots,
            rejected: AtomicU64::new(0),
            admissions: observe::bulkhead_admissions(config.name),
            changing: Mutex::new(()),
            created: config,
            hub: Hub::new(),
        }
    }

    /// The bulkhead's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether `config` can replace the settings in force: the same name, and a `max_wait`
    /// that keeps waiting on or off (a bulkhead made to reject at once has no queue).
    pub(crate) fn fits(&self, config: &BulkheadConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)?;
        if config.max_wait.is_zero() != matches!(self.slots, Slots::Counter(_)) {
            return Err(ConfigError::Running {
                option: "max_wait",
                reason: "a running bulkhead keeps waiting on (a `max_wait` above zero) or off (zero): one made to reject at once has no queue to wait in; restart to change it",
            });
        }
        Ok(())
    }

    /// The bulkhead with `created` as the settings other call sites are checked against.
    pub(crate) fn created_as(mut self, created: BulkheadConfig) -> Self {
        self.created = created;
        self
    }

    /// A receiver of every [`Event`] of this bulkhead from now on: its rejections, a conflict
    /// over its settings.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    pub(crate) fn created_config(&self) -> BulkheadConfig {
        self.created
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> BulkheadConfig {
        let max_wait = match &self.slots {
            Slots::Counter(_) => Duration::ZERO,
            Slots::Queue { max_wait, .. } => Duration::from_nanos(max_wait.load(Ordering::Relaxed)),
        };
        BulkheadConfig {
            name: self.name,
            limit: self.limit.load(Ordering::Relaxed),
            max_wait,
        }
    }

    /// Puts `config` in force from the next call on, and returns the settings it replaced.
    /// Calls in flight keep their slots: shrunk below them, the bulkhead admits no call until
    /// it is under the new limit; grown, it admits the callers waiting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::{Bulkhead, BulkheadConfig};
    ///
    /// let bulkhead = Bulkhead::builder(10).name("docs-resized").max_wait(Duration::from_millis(50)).build().unwrap();
    /// let wider = Bulkhead::builder(32).name("docs-resized").max_wait(Duration::from_millis(20)).config().unwrap();
    /// let old = bulkhead.reconfigure(wider).unwrap();
    /// assert_eq!((old.limit(), bulkhead.metrics().limit), (10, 32));
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name, or for a `max_wait` that turns waiting on
    /// or off (a bulkhead made to reject at once has no queue to wait in); nothing changes.
    pub fn reconfigure(&self, config: BulkheadConfig) -> Result<BulkheadConfig, ConfigError> {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.config();
        self.fits(&config)?;
        if let Slots::Queue {
            semaphore,
            max_wait,
            owed,
        } = &self.slots
        {
            max_wait.store(clock::nanos(config.max_wait), Ordering::Relaxed);
            if config.limit > old.limit {
                // What is owed is forgiven first; the rest are new permits.
                let grown = config.limit - old.limit;
                let forgiven = owed
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                        Some(o.saturating_sub(grown))
                    })
                    .map_or(0, |was| was.min(grown));
                semaphore.add_permits(grown - forgiven);
            } else {
                let shrunk = old.limit - config.limit;
                let forgotten = semaphore.forget_permits(shrunk);
                owed.fetch_add(shrunk - forgotten, Ordering::AcqRel);
            }
        }
        self.limit.store(config.limit, Ordering::Relaxed);
        if config != old {
            observe::settings_changed(&self.hub, InstanceKind::Bulkhead, self.name, &old, &config);
        }
        Ok(old)
    }

    /// Counters.
    #[must_use]
    pub fn metrics(&self) -> BulkheadMetrics {
        let limit = self.limit.load(Ordering::Relaxed);
        let in_flight = match &self.slots {
            Slots::Counter(count) => count.load(Ordering::Relaxed),
            Slots::Queue {
                semaphore, owed, ..
            } => {
                (limit + owed.load(Ordering::Relaxed)).saturating_sub(semaphore.available_permits())
            }
        };
        BulkheadMetrics {
            limit,
            in_flight,
            rejected: self.rejected.load(Ordering::Relaxed),
            admitted: self.admissions.total(),
        }
    }

    /// Runs `f` in a slot.
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::BulkheadFull { .. })` when no slot freed in time.
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        finish(guard(self, async { lift(f().await) }).await)
    }

    /// Takes a slot if one is free now: one compare-and-swap (or the semaphore's
    /// `try_acquire`), inlined into the caller. The taker gives it back with
    /// [`leave`](Self::leave).
    #[inline]
    fn try_enter(&self) -> bool {
        match &self.slots {
            Slots::Counter(count) => {
                // Acquire/Release on the count: what a call did in its slot happens before the
                // next call that takes the slot. A CAS loop, not fetch_add, so a full bulkhead
                // is never seen above its limit.
                let limit = self.limit.load(Ordering::Relaxed);
                let mut current = count.load(Ordering::Relaxed);
                loop {
                    if current >= limit {
                        return false;
                    }
                    match count.compare_exchange_weak(
                        current,
                        current + 1,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => {
                            self.admissions.add();
                            return true;
                        }
                        Err(actual) => current = actual,
                    }
                }
            }
            // Forgotten when taken, given back by hand in `leave`.
            Slots::Queue { semaphore, .. } => {
                let entered = semaphore.try_acquire().map(forget).is_ok();
                if entered {
                    self.admissions.add();
                }
                entered
            }
        }
    }

    /// No slot was free: waits up to `max_wait` for one, else rejects.
    async fn wait(&self) -> Result<(), Rejected> {
        if let Slots::Queue {
            semaphore,
            max_wait,
            ..
        } = &self.slots
        {
            let max_wait = Duration::from_nanos(max_wait.load(Ordering::Relaxed));
            if let Ok(Ok(permit)) = tokio::time::timeout(max_wait, semaphore.acquire()).await {
                forget(permit);
                self.admissions.add();
                return Ok(());
            }
        }
        Err(self.full())
    }

    /// Gives back a slot taken by [`try_enter`](Self::try_enter) or [`wait`](Self::wait).
    #[inline]
    fn leave(&self) {
        match &self.slots {
            Slots::Counter(count) => {
                count.fetch_sub(1, Ordering::Release);
            }
            Slots::Queue {
                semaphore, owed, ..
            } => give_back(semaphore, owed),
        }
    }

    /// Whether a call finding every slot taken waits for one (`max_wait`).
    #[cfg(feature = "tower")]
    pub(crate) fn queues(&self) -> bool {
        matches!(self.slots, Slots::Queue { .. })
    }

    /// Counts and reports a call turned away.
    #[cold]
    #[inline(never)]
    pub(crate) fn full(&self) -> Rejected {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let rejected = || Rejected::BulkheadFull {
            name: self.name,
            limit: self.limit.load(Ordering::Relaxed),
        };
        observe::rejected(&self.hub, InstanceKind::Bulkhead, self.name, rejected);
        rejected()
    }
}

/// A permit taken is forgotten, and given back by hand: unless the bulkhead shrank and owes
/// permits, and then one is paid instead.
fn forget(permit: SemaphorePermit<'_>) {
    permit.forget();
}

/// Gives a permit back to the queue, or pays one the bulkhead owes after a shrink. Out of
/// line: the counter's release stays a single decrement.
#[inline(never)]
fn give_back(semaphore: &Semaphore, owed: &AtomicUsize) {
    let paid = owed.load(Ordering::Relaxed) != 0
        && owed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| o.checked_sub(1))
            .is_ok();
    if !paid {
        semaphore.add_permits(1);
    }
}

// The maximum is valid for the semaphore of a `max_wait` bulkhead.
const _: () = assert!(Bulkhead::MAX_LIMIT <= Semaphore::MAX_PERMITS);
