//! The rate limiter: at most `rate` calls per period on average, `burst` at once.
//!
//! GCRA (the generic cell rate algorithm) on one atomic word: the word holds the theoretical
//! arrival time, when the next call would be on schedule at the rate. A call is admitted when
//! that time, advanced by one interval, lies no further ahead of now than `burst` intervals; a
//! caller that may wait reserves its turn by advancing the word, and sleeps until the turn
//! comes. No lock, no timer unless a caller waits, no allocation; tokio time, so paused tests
//! drive it.

use std::future::Future;
use std::time::Duration;

use crate::observe::{self, Hub};
use crate::sync::{AtomicU64, Ordering};
use crate::{Event, Rejected, clock};

mod config;

pub use self::config::{RateLimitConfig, RateLimiterBuilder};

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
    /// Nanoseconds between two calls at the rate.
    interval: u64,
    /// How far ahead of now the arrival time may run: `burst` intervals.
    tolerance: u64,
    /// How long a caller may wait for its turn, in nanoseconds.
    max_wait: u64,
    rejected: AtomicU64,
    config: RateLimitConfig,
    hub: Hub,
}

/// Counters of a rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateLimiterMetrics {
    /// Calls it could admit at once now (at most `burst`).
    pub available: u64,
    /// Calls refused since creation.
    pub rejected: u64,
}

/// A turn not free now: how long until it is, in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Busy(u64);

impl RateLimiter {
    /// A limiter with validated settings.
    #[must_use]
    pub fn with_config(config: RateLimitConfig) -> Self {
        let interval = config.rate.interval_nanos();
        Self {
            arrival: AtomicU64::new(0),
            interval,
            tolerance: interval.saturating_mul(config.burst),
            max_wait: clock::nanos(config.max_wait),
            rejected: AtomicU64::new(0),
            config,
            hub: Hub::new(),
        }
    }

    /// The limiter's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.config.name
    }

    /// Its settings.
    #[must_use]
    pub fn config(&self) -> RateLimitConfig {
        self.config
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
        RateLimiterMetrics {
            available: self.tolerance.saturating_sub(ahead) / self.interval,
            rejected: self.rejected.load(Ordering::Relaxed),
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
        self.acquire().await?;
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
    pub async fn acquire(&self) -> Result<(), Rejected> {
        match self.take(self.max_wait) {
            Ok(Turn::Now) => Ok(()),
            Ok(Turn::After { wait, arrival }) => {
                Waiting::new(self, arrival).sleep(wait).await;
                Ok(())
            }
            Err(Busy(wait)) => Err(self.refuse(wait)),
        }
    }

    /// Takes a turn that comes within `max_wait` nanoseconds: one clock read and one
    /// compare-and-swap when the limiter is not contended. (No sum overflows: the settings
    /// bound `tolerance` to a year and `max_wait` to a day.)
    #[inline]
    fn take(&self, max_wait: u64) -> Result<Turn, Busy> {
        let now = clock::now();
        let mut arrival = self.arrival.load(Ordering::Relaxed);
        loop {
            let next = arrival.max(now).saturating_add(self.interval);
            let ahead = next - now;
            let wait = ahead.saturating_sub(self.tolerance);
            if wait > max_wait {
                return Err(Busy(wait));
            }
            match self.arrival.compare_exchange_weak(
                arrival,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) if wait == 0 => return Ok(Turn::Now),
                Ok(_) => {
                    return Ok(Turn::After {
                        wait,
                        arrival: next,
                    });
                }
                Err(current) => arrival = current,
            }
        }
    }

    /// Counts and reports a call turned away, `wait` nanoseconds before a turn is free.
    #[cold]
    #[inline(never)]
    fn refuse(&self, wait: u64) -> Rejected {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let rejected = || Rejected::RateLimited {
            name: self.config.name,
            retry_in: Duration::from_nanos(wait),
        };
        observe::refused(&self.hub, self.config.name, rejected);
        rejected()
    }
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

/// A caller sleeping until its reserved turn. Dropped before the turn (the caller cancelled),
/// it gives the turn back if no later caller reserved one since (else the turn is lost: the
/// limiter errs on the side of fewer calls).
struct Waiting<'a> {
    limiter: &'a RateLimiter,
    arrival: u64,
    done: bool,
}

impl<'a> Waiting<'a> {
    fn new(limiter: &'a RateLimiter, arrival: u64) -> Self {
        Self {
            limiter,
            arrival,
            done: false,
        }
    }

    async fn sleep(mut self, wait: u64) {
        tokio::time::sleep(Duration::from_nanos(wait)).await;
        self.done = true;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.limiter.arrival.compare_exchange(
                self.arrival,
                self.arrival - self.limiter.interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}
