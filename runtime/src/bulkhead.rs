//! The bulkhead: at most `limit` calls in flight.
//!
//! Without `max_wait` a slot is one compare-and-swap on a counter; with it, a tokio semaphore
//! queues callers fairly and the wait is bounded by a timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::Rejected;
use crate::config::{ConfigError, checked};
use crate::observe::{self, Event, Hub};
use crate::outcome::{Failure, finish, lift, widen};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// The validated settings of a bulkhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadConfig {
    name: &'static str,
    limit: usize,
    max_wait: Duration,
}

impl BulkheadConfig {
    /// Settings the `#[bulkhead]` macro already validated at compile time.
    #[doc(hidden)]
    #[must_use]
    pub const fn __validated(name: &'static str, limit: usize, max_wait: Duration) -> Self {
        Self {
            name,
            limit,
            max_wait,
        }
    }

    /// Validated settings: `limit` between 1 and [`Bulkhead::MAX_LIMIT`], as
    /// `#[bulkhead(limit = ...)]` accepts.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a `limit` of 0 or above the maximum.
    pub fn new(name: &'static str, limit: usize, max_wait: Duration) -> Result<Self, ConfigError> {
        use staunch_options::bulkhead::{LIMIT, MAX_WAIT, NAME};
        checked(NAME.check(name), name)?;
        checked(LIMIT.check(limit as u64), limit)?;
        checked(MAX_WAIT.check(max_wait), max_wait)?;
        Ok(Self::__validated(name, limit, max_wait))
    }

    /// The bulkhead's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn with_name(self, name: &'static str) -> Self {
        Self { name, ..self }
    }
}

/// At most `limit` calls in flight; the others wait up to `max_wait`, then are rejected.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use staunch::{Bulkhead, Rejected};
///
/// let bulkhead = Bulkhead::new("inventory", 10, Duration::ZERO).unwrap();
/// let stock: Result<u32, Rejected> = bulkhead.call(|| async { Ok(7) }).await;
/// assert_eq!(stock, Ok(7));
/// assert_eq!(bulkhead.metrics().in_flight, 0);
/// # }
/// ```
#[derive(Debug)]
pub struct Bulkhead {
    config: BulkheadConfig,
    slots: Slots,
    rejected: AtomicU64,
    hub: Hub,
}

#[derive(Debug)]
enum Slots {
    /// Reject at once: a plain counter of calls in flight.
    Counter(AtomicUsize),
    /// Wait up to `max_wait` in a fair queue.
    Queue(Semaphore),
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
}

impl Bulkhead {
    /// The largest `limit`, in the attribute and the builders alike: tokio's semaphore limit
    /// on every target (2^29 - 1).
    pub const MAX_LIMIT: usize = staunch_options::bulkhead::MAX_LIMIT;

    /// A bulkhead of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`BulkheadConfig::new`].
    pub fn new(name: &'static str, limit: usize, max_wait: Duration) -> Result<Self, ConfigError> {
        BulkheadConfig::new(name, limit, max_wait).map(Self::with_config)
    }

    /// A bulkhead with validated settings.
    #[must_use]
    pub fn with_config(config: BulkheadConfig) -> Self {
        let slots = if config.max_wait.is_zero() {
            Slots::Counter(AtomicUsize::new(0))
        } else {
            Slots::Queue(Semaphore::new(config.limit))
        };
        Self {
            config,
            slots,
            rejected: AtomicU64::new(0),
            hub: Hub::new(),
        }
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

    /// Its settings.
    #[must_use]
    pub fn config(&self) -> &BulkheadConfig {
        &self.config
    }

    /// Counters.
    #[must_use]
    pub fn metrics(&self) -> BulkheadMetrics {
        let in_flight = match &self.slots {
            Slots::Counter(count) => count.load(Ordering::Relaxed),
            Slots::Queue(semaphore) => self.config.limit - semaphore.available_permits(),
        };
        BulkheadMetrics {
            limit: self.config.limit,
            in_flight,
            rejected: self.rejected.load(Ordering::Relaxed),
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

    /// A slot if one is free now: one compare-and-swap (or the semaphore's `try_acquire`),
    /// inlined into the caller.
    #[inline]
    fn try_enter(&self) -> Option<Slot<'_>> {
        match &self.slots {
            Slots::Counter(count) => {
                // Acquire/Release on the count: what a call did in its slot happens before the
                // next call that takes the slot. A CAS loop, not fetch_add, so a full bulkhead
                // is never seen above its limit.
                let mut current = count.load(Ordering::Relaxed);
                loop {
                    if current >= self.config.limit {
                        return None;
                    }
                    match count.compare_exchange_weak(
                        current,
                        current + 1,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(Slot::Counted(count)),
                        Err(actual) => current = actual,
                    }
                }
            }
            Slots::Queue(semaphore) => semaphore.try_acquire().ok().map(Slot::Permit),
        }
    }

    /// No slot was free: waits up to `max_wait` for one, else rejects.
    async fn wait(&self) -> Result<Slot<'_>, Rejected> {
        let slot = match &self.slots {
            Slots::Counter(_) => None,
            Slots::Queue(semaphore) => {
                tokio::time::timeout(self.config.max_wait, semaphore.acquire())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(Slot::Permit)
            }
        };
        slot.ok_or_else(|| {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            let rejected = || Rejected::BulkheadFull {
                name: self.config.name,
                limit: self.config.limit,
            };
            observe::rejected(&self.hub, self.config.name, rejected);
            rejected()
        })
    }
}

/// A slot in flight; dropping it (the call finished or was cancelled) frees it.
pub enum Slot<'a> {
    Counted(&'a AtomicUsize),
    // Held for its Drop, which returns the permit.
    Permit(#[allow(dead_code)] SemaphorePermit<'a>),
}

impl Drop for Slot<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Slot::Counted(count) = self {
            count.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Runs one attempt in a slot of `bulkhead`: the layer that `#[bulkhead]` expands to.
///
/// The slot is taken when the future is first polled and freed when the attempt finishes or
/// the future is dropped.
#[inline]
pub fn guard<'b, T, E, R, F>(
    bulkhead: &'b Bulkhead,
    attempt: F,
) -> Guard<'b, F, impl Future<Output = Result<Slot<'b>, Rejected>> + 'b>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    Guard {
        bulkhead,
        attempt,
        // Not started unless no slot is free at the first poll.
        wait: bulkhead.wait(),
        stage: Stage::Unpolled,
        slot: None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unpolled,
    Waiting,
    Running,
}

pin_project_lite::pin_project! {
    /// The future of [`guard`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Guard<'b, F, W> {
        bulkhead: &'b Bulkhead,
        #[pin]
        attempt: F,
        #[pin]
        wait: W,
        stage: Stage,
        slot: Option<Slot<'b>>,
    }
}

impl<'b, T, E, R, F, W> Future for Guard<'b, F, W>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    W: Future<Output = Result<Slot<'b>, Rejected>>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.stage != Stage::Running {
            if *this.stage == Stage::Unpolled {
                *this.slot = this.bulkhead.try_enter();
                *this.stage = Stage::Waiting;
            }
            if this.slot.is_none() {
                match this.wait.poll(cx) {
                    Poll::Ready(Ok(slot)) => *this.slot = Some(slot),
                    Poll::Ready(Err(rejected)) => {
                        return Poll::Ready(Err(Failure::Rejected(rejected)));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            *this.stage = Stage::Running;
        }
        let result = match this.attempt.poll(cx) {
            Poll::Ready(result) => widen(result),
            Poll::Pending => return Poll::Pending,
        };
        // Freed before the caller sees the result, as when the slot was a local of the layer.
        *this.slot = None;
        Poll::Ready(result)
    }
}

// The maximum is valid for the semaphore of a `max_wait` bulkhead.
const _: () = assert!(Bulkhead::MAX_LIMIT <= Semaphore::MAX_PERMITS);
