//! The rate limiter: at most `rate` calls per period on average, `burst` at once.
//!
//! GCRA (the generic cell rate algorithm) on one atomic word: the word holds the theoretical
//! arrival time, when the next call would be on schedule at the rate. A call is admitted when
//! that time, advanced by one interval, lies no further ahead of now than `burst` intervals; a
//! caller that may wait reserves its turn by advancing the word, and sleeps until the turn
//! comes. No lock, no timer unless a caller waits, no allocation; tokio time, so paused tests
//! drive it.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use crate::config::ConfigError;
use crate::observe::{self, Hub, InstanceKind, Tally};
use crate::sync::{AtomicU64, Ordering};
use crate::{Event, Rejected, clock};

mod config;
mod guard;

pub use self::config::{RateLimitConfig, RateLimiterBuilder};
pub use self::guard::guard;

/// At most `rate` calls per period on average, with up to `burst` at once after a quiet
/// period; a caller waits up to `max_wait` for its turn, else it is refused with
/// [`Rejected::RateLimited`] (a 429 problem with `Retry-After`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use staunch::{RateLimiter, Rejected};
///
/// let search = RateLimiter::builder(2, Duration::from_secs(1)).name("docs-search").build().unwrap();
/// for _ in 0..2 {
///     search.call(|| async { Ok::<_, Rejected>(()) }).await.unwrap();
/// }
/// let third = search.call(|| async { Ok::<_, Rejected>(()) }).await;
/// assert!(matches!(third, Err(Rejected::RateLimited { name: "docs-search", .. })));
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    /// The theoretical arrival time, in clock nanoseconds: the one word calls write.
    arrival: AtomicU64,
    /// Nanoseconds between two calls at the rate (settings in force: read by every call,
    /// written by a change).
    interval: AtomicU64,
    /// How far ahead of now the arrival time may run: `burst` intervals.
    tolerance: AtomicU64,
    /// How long a caller may wait for its turn, in nanoseconds.
    max_wait: AtomicU64,
    rejected: AtomicU64,
    /// Calls let in, for metrics: counted per thread.
    admissions: Tally,
    name: &'static str,
    /// The settings in force; its lock serializes changes.
    in_force: Mutex<RateLimitConfig>,
    /// The settings it was created with: other call sites naming it are checked against them.
    created: RateLimitConfig,
    hub: Hub,
}

/// Counters of a rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateLimiterMetrics {
    /// Calls it could admit at once now (at most `burst`).
    pub available: u64,
    /// Calls refused since creation.
    pub rejected: u64,
    /// Calls let in since creation, as each thread last counted them (with the `metrics` or
    /// `axum` feature).
    pub admitted: Option<u64>,
}

/// A turn not free now: how long until it is, in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Busy(u64);

impl RateLimiter {
    /// A limiter with validated settings.
    #[must_use]
    pub fn with_config(config: RateLimitConfig) -> Self {
        let (interval, tolerance) = spacing(&config);
        Self {
            arrival: AtomicU64::new(0),
            interval: AtomicU64::new(interval),
            tolerance: AtomicU64::new(tolerance),
            max_wait: AtomicU64::new(clock::nanos(config.max_wait)),
            rejected: AtomicU64::new(0),
            admissions: observe::rate_limit_admissions(config.name),
            name: config.name,
            in_force: Mutex::new(config),
            created: config,
            hub: Hub::new(),
        }
    }

    /// The limiter's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> RateLimitConfig {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateLimitConfig> {
        self.in_force.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `config` in force from the next call on, and returns the settings it replaced.
    /// The calls the limiter owes keep their count: a limiter that has just let its burst
    /// through is, under a new rate, as many calls ahead of it (at most its new burst), so a
    /// change neither forgives the calls made nor grants a second burst. Callers already
    /// waiting keep the turns they reserved, and no caller is given one of them again. A
    /// call racing the change is judged by the stricter of the two settings.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    ///
    /// let search = RateLimiter::builder(10, Duration::from_secs(1)).name("docs-retuned").build().unwrap();
    /// let faster = RateLimiter::builder(100, Duration::from_secs(1)).name("docs-retuned").config().unwrap();
    /// let old = search.reconfigure(faster).unwrap();
    /// assert_eq!((old.calls(), search.config().calls(), search.config().burst()), (10, 100, 100));
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name; nothing changes.
    pub fn reconfigure(&self, config: RateLimitConfig) -> Result<RateLimitConfig, ConfigError> {
        let mut in_force = self.lock();
        let old = *in_force;
        crate::config::same_name(self.name, config.name)?;
        let (interval, tolerance) = spacing(&config);
        let old_interval = self.interval.load(Ordering::Relaxed);
        let old_tolerance = self.tolerance.load(Ordering::Relaxed);
        // While the arrival time is rescaled, calls judge it by the smaller of the two bursts
        // (the word is released after these stores, and calls acquire it before reading
        // them): a change in flight lets no more through than either setting would.
        self.tolerance
            .store(old_tolerance.min(tolerance), Ordering::Release);
        self.interval.store(interval, Ordering::Release);
        self.max_wait
            .store(clock::nanos(config.max_wait), Ordering::Release);
        let now = clock::now();
        let _ = self
            .arrival
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |arrival| {
                let ahead = arrival.checked_sub(now).filter(|ahead| *ahead > 0)?;
                // The calls owed within the burst count again at the new rate; the turns
                // reserved beyond it by callers waiting stay where they are.
                let owed = ahead.min(old_tolerance);
                let reserved = ahead - owed;
                let owed = u128::from(owed) * u128::from(interval) / u128::from(old_interval);
                let owed = u64::try_from(owed).unwrap_or(u64::MAX).min(tolerance);
                Some(now + owed + reserved)
            });
        self.tolerance.store(tolerance, Ordering::Release);
        *in_force = config;
        drop(in_force);
        if config != old {
            observe::settings_changed(&self.hub, InstanceKind::RateLimit, self.name, &old, &config);
        }
        Ok(old)
    }

    /// Whether `config` can replace the settings in force: the same name (every setting of
    /// a rate limiter can change while it runs).
    pub(crate) fn fits(&self, config: &RateLimitConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)
    }

    /// The limiter with `created` as the settings other call sites are checked against.
    pub(crate) fn created_as(mut self, created: RateLimitConfig) -> Self {
        self.created = created;
        self
    }

    pub(crate) fn created_config(&self) -> RateLimitConfig {
        self.created
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// A receiver of every [`Event`] of this limiter from now on: its rejections.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    /// Counters.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    ///
    /// let limiter = RateLimiter::builder(5, Duration::from_secs(60)).build().unwrap();
    /// limiter.try_acquire().unwrap();
    /// assert_eq!(limiter.metrics().available, 4);
    /// ```
    #[must_use]
    pub fn metrics(&self) -> RateLimiterMetrics {
        let ahead = self
            .arrival
            .load(Ordering::Relaxed)
            .saturating_sub(clock::now());
        let interval = self.interval.load(Ordering::Relaxed);
        RateLimiterMetrics {
            available: self.tolerance.load(Ordering::Relaxed).saturating_sub(ahead) / interval,
            rejected: self.rejected.load(Ordering::Relaxed),
            admitted: self.admissions.total(),
        }
    }

    /// Runs `f` in its turn: at once when one is free, after a wait of up to `max_wait` for
    /// the next, or not at all.
    ///
    /// # Errors
    /// `f`'s error, or `E::from(Rejected::RateLimited { .. })` when no turn comes in time.
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Rejected>,
    {
        // The turn taken here, not through `acquire`'s future: a free turn (the common case)
        // makes no future at all.
        if let Some(reserved) = self.turn()? {
            Acquire::reserved(self, reserved).await?;
        }
        f().await
    }

    /// Takes a turn if one is free now, without waiting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    ///
    /// let once = RateLimiter::builder(1, Duration::from_secs(60)).build().unwrap();
    /// assert!(once.try_acquire().is_ok());
    /// assert!(once.try_acquire().is_err(), "the next turn is a minute away");
    /// ```
    ///
    /// # Errors
    /// [`Rejected::RateLimited`], with the time until a turn is free.
    pub fn try_acquire(&self) -> Result<(), Rejected> {
        match self.take(0) {
            Ok(_) => Ok(()),
            Err(Busy(wait)) => Err(self.refuse(wait)),
        }
    }

    /// Takes a turn, waiting up to `max_wait` for it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    ///
    /// let paced = RateLimiter::builder(10, Duration::from_secs(1))
    ///     .burst(1)
    ///     .max_wait(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// let started = tokio::time::Instant::now();
    /// paced.acquire().await.unwrap();
    /// paced.acquire().await.unwrap();
    /// assert_eq!(started.elapsed(), Duration::from_millis(100), "one turn each 100 ms");
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Rejected::RateLimited`] when no turn comes within `max_wait`.
    pub fn acquire(&self) -> Acquire<&Self> {
        Acquire::new(self)
    }

    /// Takes a turn now: `None` when it is free at once, the turn reserved when it is ahead
    /// (to wait for with [`Acquire::reserved`]), or the refusal. A free turn, the common case,
    /// makes no future at all: `call` and the layers take theirs this way.
    #[inline]
    pub(crate) fn turn(&self) -> Result<Option<Reserved>, Rejected> {
        match self.take(self.max_wait.load(Ordering::Relaxed)) {
            Ok(Turn::Now) => Ok(None),
            Ok(Turn::After { wait, arrival }) => Ok(Some(Reserved { wait, arrival })),
            Err(Busy(wait)) => Err(self.refuse(wait)),
        }
    }

    /// Takes a turn that comes within `max_wait` nanoseconds: one clock read and one
    /// compare-and-swap when the limiter is not contended. (No sum overflows: the settings
    /// bound `tolerance` to a year and `max_wait` to a day.)
    #[inline]
    fn take(&self, max_wait: u64) -> Result<Turn, Busy> {
        let now = clock::now();
        // Acquired before the settings are read: a change's rescaled arrival time is read
        // with the settings it was written for (or stricter ones).
        let mut arrival = self.arrival.load(Ordering::Acquire);
        loop {
            let interval = self.interval.load(Ordering::Relaxed);
            let tolerance = self.tolerance.load(Ordering::Relaxed);
            let next = arrival.max(now).saturating_add(interval);
            let ahead = next - now;
            let wait = ahead.saturating_sub(tolerance);
            if wait > max_wait {
                return Err(Busy(wait));
            }
            match self.arrival.compare_exchange_weak(
                arrival,
                next,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.admissions.add();
                    return Ok(if wait == 0 {
                        Turn::Now
                    } else {
                        Turn::After {
                            wait,
                            arrival: next,
                        }
                    });
                }
                Err(current) => arrival = current,
            }
        }
    }

    /// Gives back the turn reserved by advancing the arrival time to `arrival`, if no later
    /// caller reserved one since (else the turn is lost: the limiter errs on the side of
    /// fewer calls).
    fn give_back(&self, arrival: u64) {
        let interval = self.interval.load(Ordering::Relaxed);
        let _ = self.arrival.compare_exchange(
            arrival,
            arrival.saturating_sub(interval),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Counts and reports a call turned away, `wait` nanoseconds before a turn is free.
    #[cold]
    #[inline(never)]
    fn refuse(&self, wait: u64) -> Rejected {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let rejected = || Rejected::RateLimited {
            name: self.name,
            retry_in: Duration::from_nanos(wait),
        };
        observe::rejected(&self.hub, InstanceKind::RateLimit, self.name, rejected);
        rejected()
    }
}

/// The nanoseconds between two calls at the rate of `config`, and how far ahead of now its
/// burst lets the arrival time run.
fn spacing(config: &RateLimitConfig) -> (u64, u64) {
    let interval = config.rate.interval_nanos();
    (interval, interval.saturating_mul(config.burst))
}

/// A turn ahead, reserved: `wait` nanoseconds away, by advancing the arrival time to
/// `arrival`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reserved {
    wait: u64,
    arrival: u64,
}

/// A turn taken.
#[derive(Debug, Clone, Copy)]
enum Turn {
    Now,
    /// Reserved `wait` nanoseconds ahead, by advancing the arrival time to `arrival`.
    After {
        wait: u64,
        arrival: u64,
    },
}

pin_project_lite::pin_project! {
    /// The future of [`RateLimiter::acquire`]: a turn, taken at its first poll; when the turn
    /// is ahead, a sleep until it comes. Dropped before its turn (the caller cancelled), it
    /// gives the turn back.
    ///
    /// `H` is a handle of the limiter: a reference, or one that owns it (an `Arc`), so that
    /// a `'static` future can wait.
    #[must_use = "futures do nothing unless polled"]
    pub struct Acquire<H>
    where
        H: Deref<Target = RateLimiter>,
    {
        limiter: H,
        #[pin]
        stage: Stage,
    }

    impl<H> PinnedDrop for Acquire<H>
    where
        H: Deref<Target = RateLimiter>,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let StageProj::Waiting { arrival, .. } = this.stage.project() {
                this.limiter.give_back(*arrival);
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    enum Stage {
        Unpolled,
        Waiting {
            arrival: u64,
            #[pin]
            sleep: tokio::time::Sleep,
        },
        Done,
    }
}

impl<H: Deref<Target = RateLimiter>> Acquire<H> {
    pub(crate) fn new(limiter: H) -> Self {
        Self {
            limiter,
            stage: Stage::Unpolled,
        }
    }

    /// Waits for the turn `reserved` (taken by [`RateLimiter::turn`]) to come.
    pub(crate) fn reserved(limiter: H, reserved: Reserved) -> Self {
        Self {
            limiter,
            stage: Stage::waiting(reserved.wait, reserved.arrival),
        }
    }
}

impl Stage {
    fn waiting(wait: u64, arrival: u64) -> Self {
        Self::Waiting {
            arrival,
            sleep: tokio::time::sleep(Duration::from_nanos(wait)),
        }
    }
}

impl<H: Deref<Target = RateLimiter>> Future for Acquire<H> {
    type Output = Result<(), Rejected>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let StageProj::Unpolled = this.stage.as_mut().project() {
            let max_wait = this.limiter.max_wait.load(Ordering::Relaxed);
            match this.limiter.take(max_wait) {
                Ok(Turn::Now) => {
                    this.stage.set(Stage::Done);
                    return Poll::Ready(Ok(()));
                }
                Ok(Turn::After { wait, arrival }) => this.stage.set(Stage::waiting(wait, arrival)),
                Err(Busy(wait)) => {
                    this.stage.set(Stage::Done);
                    return Poll::Ready(Err(this.limiter.refuse(wait)));
                }
            }
        }
        match this.stage.as_mut().project() {
            StageProj::Waiting { sleep, .. } => {
                ready!(sleep.poll(cx));
                this.stage.set(Stage::Done);
                Poll::Ready(Ok(()))
            }
            StageProj::Unpolled | StageProj::Done => {
                panic!("`Acquire` polled after it completed")
            }
        }
    }
}
