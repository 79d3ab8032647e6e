//! The bulkhead: at most `limit` calls in flight.
//!
//! Without `max_wait` a slot is one compare-and-swap on a counter; with it, a tokio semaphore
//! queues callers fairly and the wait is bounded by a timer. The limit can change while calls
//! run: the counter compares against the limit in force, and the semaphore gains permits, or
//! forgets free ones and owes the rest, paid as calls in flight give theirs back.

use std::borrow::Cow;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{ConfigError, checked};
use crate::names;
use crate::observe::{self, Event, Hub, InstanceKind};
use crate::outcome::{Failure, finish, lift, widen};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::{Rejected, clock};

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
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        limit: usize,
        max_wait: Duration,
    ) -> Result<Self, ConfigError> {
        use staunch_options::bulkhead::{LIMIT, MAX_WAIT, NAME};
        let name = names::intern(name);
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

    /// The most calls in flight.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long a caller waits for a slot (zero: it is rejected at once).
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
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
    name: &'static str,
    /// The limit in force: a change reaches the next admission.
    limit: AtomicUsize,
    slots: Slots,
    rejected: AtomicU64,
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
}

impl Bulkhead {
    /// The largest `limit`, in the attribute and the builders alike: tokio's semaphore limit
    /// on every target (2^29 - 1).
    pub const MAX_LIMIT: usize = staunch_options::bulkhead::MAX_LIMIT;

    /// A bulkhead of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`BulkheadConfig::new`].
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        limit: usize,
        max_wait: Duration,
    ) -> Result<Self, ConfigError> {
        BulkheadConfig::new(name, limit, max_wait).map(Self::with_config)
    }

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
            changing: Mutex::new(()),
            created: config,
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
    /// let bulkhead = Bulkhead::new("docs-resized", 10, Duration::from_millis(50)).unwrap();
    /// let wider = BulkheadConfig::new("docs-resized", 32, Duration::from_millis(20)).unwrap();
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
        if config.name != self.name {
            return Err(ConfigError::Conflict("name", "the instance's name"));
        }
        if config.max_wait.is_zero() != old.max_wait.is_zero() {
            return Err(ConfigError::Conflict(
                "max_wait",
                "the bulkhead's waiting mode",
            ));
        }
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
                        Ok(_) => return true,
                        Err(actual) => current = actual,
                    }
                }
            }
            // Forgotten when taken, given back by hand in `leave`.
            Slots::Queue { semaphore, .. } => semaphore.try_acquire().map(forget).is_ok(),
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

    /// Counts and reports a call turned away.
    #[cold]
    #[inline(never)]
    fn full(&self) -> Rejected {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let rejected = || Rejected::BulkheadFull {
            name: self.name,
            limit: self.limit.load(Ordering::Relaxed),
        };
        observe::rejected(&self.hub, self.name, rejected);
        rejected()
    }
}

/// A slot in flight, held through a handle of its bulkhead; dropping it (the call finished
/// or was cancelled) frees it.
pub struct Slot<H: Deref<Target = Bulkhead>>(H);

impl<H: Deref<Target = Bulkhead>> Drop for Slot<H> {
    #[inline]
    fn drop(&mut self) {
        self.0.leave();
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

/// Runs one attempt in a slot of `bulkhead`: the layer that `#[bulkhead]` expands to.
///
/// `bulkhead` is a handle: a reference (`&'static` for a named bulkhead), or one that owns
/// its bulkhead (an `Arc`), so that a `'static` future can hold the guard.
///
/// The slot is taken when the future is first polled and freed when the attempt finishes or
/// the future is dropped.
#[inline]
pub fn guard<H, T, E, R, F>(
    bulkhead: H,
    attempt: F,
) -> Guard<H, F, impl Future<Output = Result<Slot<H>, Rejected>>>
where
    H: Deref<Target = Bulkhead> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    Guard {
        attempt,
        // Polled only when no slot is free at the first poll. (Made here, not then: an
        // `Option` of it costs the fast path more than making it does.)
        wait: wait_for(bulkhead.clone()),
        bulkhead,
        stage: Stage::Unpolled,
        slot: None,
    }
}

/// Waits for a slot of the bulkhead `handle` points to.
async fn wait_for<H: Deref<Target = Bulkhead>>(handle: H) -> Result<Slot<H>, Rejected> {
    handle.wait().await?;
    Ok(Slot(handle))
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
    pub struct Guard<H, F, W>
    where
        H: Deref<Target = Bulkhead>,
    {
        bulkhead: H,
        #[pin]
        attempt: F,
        #[pin]
        wait: W,
        stage: Stage,
        slot: Option<Slot<H>>,
    }
}

impl<H, T, E, R, F, W> Future for Guard<H, F, W>
where
    H: Deref<Target = Bulkhead> + Clone,
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
    W: Future<Output = Result<Slot<H>, Rejected>>,
{
    type Output = Result<T, Failure<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if *this.stage != Stage::Running {
            if *this.stage == Stage::Unpolled {
                if this.bulkhead.try_enter() {
                    *this.slot = Some(Slot(this.bulkhead.clone()));
                }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Bulkhead, guard};
    use crate::Rejected;
    use crate::outcome::{finish, lift};

    /// The guard a `'static` future holds: it owns its bulkhead through the handle.
    fn owned_call(
        bulkhead: &Arc<Bulkhead>,
        busy: Duration,
    ) -> impl Future<Output = Result<(), Rejected>> + Send + 'static {
        let attempt = async move {
            tokio::time::sleep(busy).await;
            lift(Ok::<(), Rejected>(()))
        };
        let guarded = guard(Arc::clone(bulkhead), attempt);
        async move { finish::<(), Rejected, Rejected>(guarded.await) }
    }

    #[tokio::test(start_paused = true)]
    async fn guards_owning_their_bulkhead_wait_run_and_let_it_go() {
        for max_wait in [Duration::ZERO, Duration::from_millis(50)] {
            let bulkhead = Arc::new(Bulkhead::new("owned-guard", 1, max_wait).unwrap());
            let first = tokio::spawn(owned_call(&bulkhead, Duration::from_millis(30)));
            tokio::task::yield_now().await;
            assert_eq!(bulkhead.metrics().in_flight, 1);
            let second = tokio::spawn(owned_call(&bulkhead, Duration::from_millis(30)));
            assert_eq!(first.await.unwrap(), Ok(()));
            let second = second.await.unwrap();
            if max_wait.is_zero() {
                assert!(matches!(
                    second,
                    Err(Rejected::BulkheadFull { limit: 1, .. })
                ));
            } else {
                assert_eq!(second, Ok(()), "waited for the first call's slot");
            }
            // A waiter cancelled in the queue, and a call cancelled in its slot.
            let mut running = Box::pin(owned_call(&bulkhead, Duration::from_secs(1)));
            let mut waiting = Box::pin(owned_call(&bulkhead, Duration::from_secs(1)));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(running.as_mut().poll(&mut cx).is_pending());
            let _ = waiting.as_mut().poll(&mut cx);
            drop((running, waiting));
            assert_eq!(bulkhead.metrics().in_flight, 0);
            assert_eq!(
                Arc::strong_count(&bulkhead),
                1,
                "every slot gave its handle back"
            );
        }
    }
}
