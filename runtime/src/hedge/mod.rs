//! Hedging: when an attempt has not answered after `delay`, another starts beside it, up to
//! `max` attempts in all; the first success wins and the others are dropped (Polly's latency
//! mode).
//!
//! The first attempt runs inline. A call that answers at its first poll arms no timer and
//! allocates nothing; one still pending then arms one sleep of `delay`, and each hedged
//! attempt is boxed beside it (a call already slower than `delay`).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::config::ConfigError;
use crate::observe::{self, Event, Hub, InstanceKind};
use crate::outcome::{AsRejected, Failure, finish, lift};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::{Classify, clock};

mod config;

pub use self::config::{HedgeBuilder, HedgeConfig};

/// Starts another attempt when one has not answered after `delay`, up to `max` attempts in
/// flight in all; the first success wins and the others are dropped (cancelled). When every
/// attempt fails, the last error is returned; an error that may not be hedged (see
/// [`call_when`](Self::call_when)) is returned at once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use staunch::Hedge;
///
/// let hedge = Hedge::builder().name("docs-hedge").delay(Duration::from_millis(50)).build().unwrap();
/// let attempts = AtomicU32::new(0);
/// let started = tokio::time::Instant::now();
/// let answer = hedge
///     .call(|| async {
///         // The first attempt is stuck; the hedged one answers in 10 ms.
///         let slow = attempts.fetch_add(1, Ordering::SeqCst) == 0;
///         tokio::time::sleep(Duration::from_millis(if slow { 5_000 } else { 10 })).await;
///         Ok::<_, std::io::Error>(slow)
///     })
///     .await;
/// assert_eq!(answer.unwrap(), false, "the hedged attempt won");
/// assert_eq!(started.elapsed(), Duration::from_millis(60));
/// # }
/// ```
#[derive(Debug)]
pub struct Hedge {
    name: &'static str,
    /// The settings in force, read by each call as it starts.
    delay: AtomicU64,
    max: AtomicU32,
    hedged: AtomicU64,
    won: AtomicU64,
    /// The settings in force; its lock serializes changes.
    in_force: Mutex<HedgeConfig>,
    /// The settings it was created with: other call sites naming it are checked against them.
    created: HedgeConfig,
    hub: Hub,
}

/// Counters of a hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HedgeMetrics {
    /// Attempts started beside a slow one (the first attempts of calls not counted).
    pub hedged: u64,
    /// Calls a hedged attempt answered first.
    pub won_by_hedge: u64,
}

impl Hedge {
    /// A hedge with validated settings.
    #[must_use]
    pub fn with_config(config: HedgeConfig) -> Self {
        Self {
            name: config.name,
            delay: AtomicU64::new(clock::nanos(config.delay)),
            max: AtomicU32::new(config.max),
            hedged: AtomicU64::new(0),
            won: AtomicU64::new(0),
            in_force: Mutex::new(config),
            created: config,
            hub: Hub::new(),
        }
    }

    /// The hedge's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> HedgeConfig {
        *self.in_force.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counters.
    #[must_use]
    pub fn metrics(&self) -> HedgeMetrics {
        HedgeMetrics {
            hedged: self.hedged.load(Ordering::Relaxed),
            won_by_hedge: self.won.load(Ordering::Relaxed),
        }
    }

    /// A receiver of every [`Event`] of this hedge from now on: each attempt it starts beside a
    /// slow one, a change of its settings.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    /// Puts `config` in force from the next call on (calls running keep the settings they
    /// started with), and returns the settings it replaced.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::Hedge;
    ///
    /// let hedge = Hedge::builder().name("docs-rehedged").build().unwrap();
    /// let wider = Hedge::builder().name("docs-rehedged").max(3).delay(Duration::from_millis(20)).config().unwrap();
    /// assert_eq!(hedge.reconfigure(wider).unwrap().max(), 2);
    /// assert_eq!(hedge.config().max(), 3);
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name; nothing changes.
    pub fn reconfigure(&self, config: HedgeConfig) -> Result<HedgeConfig, ConfigError> {
        let mut in_force = self.in_force.lock().unwrap_or_else(PoisonError::into_inner);
        let old = *in_force;
        crate::config::same_name(self.name, config.name)?;
        self.delay
            .store(clock::nanos(config.delay), Ordering::Relaxed);
        self.max.store(config.max, Ordering::Relaxed);
        *in_force = config;
        drop(in_force);
        if config != old {
            observe::settings_changed(&self.hub, InstanceKind::Hedge, self.name, &old, &config);
        }
        Ok(old)
    }

    pub(crate) fn fits(&self, config: &HedgeConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)
    }

    pub(crate) fn created_as(mut self, created: HedgeConfig) -> Self {
        self.created = created;
        self
    }

    pub(crate) fn created_config(&self) -> HedgeConfig {
        self.created
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Runs attempts made by `f`, hedging on every error.
    ///
    /// # Errors
    /// The last attempt's error when every attempt failed.
    pub async fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_when(|_| true, f).await
    }

    /// Runs attempts made by `f`, hedging only on errors `when` accepts: another is returned
    /// at once, the attempts still running dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use staunch::Hedge;
    ///
    /// let hedge = Hedge::builder().name("docs-hedge-when").build().unwrap();
    /// let mut attempts = 0;
    /// let answer = hedge
    ///     .call_when(|e: &&str| *e != "not found", || {
    ///         attempts += 1;
    ///         async { Err::<(), _>("not found") }
    ///     })
    ///     .await;
    /// assert_eq!((answer, attempts), (Err("not found"), 1), "not worth another attempt");
    /// # }
    /// ```
    ///
    /// # Errors
    /// The error `when` refused, or the last attempt's when every attempt failed.
    pub async fn call_when<T, E, F, Fut>(&self, when: impl Fn(&E) -> bool, mut f: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let attempts = guard(self, move || lift_attempt(f()), when);
        finish::<T, E, std::convert::Infallible>(attempts.await)
    }

    /// Counts and reports attempt number `attempt`, started beside a slow one.
    #[cold]
    #[inline(never)]
    fn hedging(&self, attempt: u32, after: Duration) {
        self.hedged.fetch_add(1, Ordering::Relaxed);
        observe::hedged(&self.hub, self.name, attempt, after);
    }
}

/// A builder's attempt, as the layers see one.
async fn lift_attempt<T, E>(
    attempt: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure<E, std::convert::Infallible>> {
    lift(attempt.await)
}

/// Whether a failed attempt may be followed by another: an error `when` accepts, or a
/// rejection that may clear (a timeout inside, a full bulkhead; not an open breaker).
fn hedgeable<E, R: AsRejected>(failure: &Failure<E, R>, when: &impl Fn(&E) -> bool) -> bool {
    match failure {
        Failure::Error(e) => when(e),
        Failure::Rejected(r) => r.as_rejected().is_transient(),
    }
}

/// Hedges the attempts `make` starts: the layer that `#[hedge]` expands to. `when` says which
/// of the function's errors may be hedged.
///
/// `hedge` is a handle: a reference (`&'static` for a call site's hedge), or one that owns it.
#[inline]
pub fn guard<H, T, E, R, M, Fut, W>(hedge: H, mut make: M, when: W) -> Hedging<H, M, Fut, W>
where
    H: Deref<Target = Hedge>,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E, R>>>,
    R: AsRejected,
    W: Fn(&E) -> bool,
{
    // The first attempt is made now (an attempt does nothing until polled).
    let first = make();
    Hedging {
        hedge,
        make,
        when,
        first: Some(first),
        hedging: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`guard`]: the first attempt inline and, once it is found pending, the
    /// state of the hedging boxed beside it, so that a call answered at once moves and drops
    /// no more than its attempt.
    #[must_use = "futures do nothing unless polled"]
    pub struct Hedging<H, M, Fut, W>
    where
        Fut: Future,
    {
        hedge: H,
        make: M,
        when: W,
        #[pin]
        first: Option<Fut>,
        hedging: Option<Pin<Box<Started<Fut>>>>,
    }
}

pin_project_lite::pin_project! {
    /// The attempts after the first, the sleep until the next, and what the call has come to.
    struct Started<Fut>
    where
        Fut: Future,
    {
        others: Vec<Pin<Box<Fut>>>,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        started: u32,
        max: u32,
        delay: Duration,
        // The last failure, returned when every attempt has failed.
        last: Option<Fut::Output>,
    }
}

impl<H, T, E, R, M, Fut, W> Future for Hedging<H, M, Fut, W>
where
    H: Deref<Target = Hedge>,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E, R>>>,
    R: AsRejected,
    W: Fn(&E) -> bool,
{
    type Output = Fut::Output;

    /// Until the first attempt is found pending, it alone is polled: a call answered at once
    /// reads no setting, arms no timer and allocates nothing.
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.hedging.is_none() {
            let mut this = self.as_mut().project();
            let Some(first) = this.first.as_mut().as_pin_mut() else {
                panic!("`Hedging` polled after it completed");
            };
            let last = match first.poll(cx) {
                Poll::Ready(output) => match &output {
                    Err(failure) if hedgeable(failure, this.when) => {
                        this.first.set(None);
                        Some(output)
                    }
                    _ => return Poll::Ready(output),
                },
                Poll::Pending => None,
            };
            return self.start(last, cx);
        }
        self.hedge_on(cx)
    }
}

impl<H, T, E, R, M, Fut, W> Hedging<H, M, Fut, W>
where
    H: Deref<Target = Hedge>,
    M: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E, R>>>,
    R: AsRejected,
    W: Fn(&E) -> bool,
{
    /// The first attempt is pending (the timer is armed) or failed (`last`): the hedging
    /// starts, with the settings in force now.
    #[cold]
    #[inline(never)]
    fn start(
        mut self: Pin<&mut Self>,
        last: Option<Fut::Output>,
        cx: &mut Context<'_>,
    ) -> Poll<Fut::Output> {
        let this = self.as_mut().project();
        let delay = Duration::from_nanos(this.hedge.delay.load(Ordering::Relaxed));
        let pending = last.is_none();
        *this.hedging = Some(Box::pin(Started {
            others: Vec::new(),
            timer: pending.then(|| tokio::time::sleep(delay)),
            started: 1,
            max: this.hedge.max.load(Ordering::Relaxed),
            delay,
            last,
        }));
        if pending {
            let started = this.hedging.as_mut().map(Pin::as_mut);
            if let Some(timer) = started.and_then(|s| s.project().timer.as_pin_mut())
                && timer.poll(cx).is_pending()
            {
                return Poll::Pending;
            }
        }
        self.hedge_on(cx)
    }

    /// Polls every attempt in flight once, dropping those that finished.
    fn round(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Round<Fut::Output> {
        let mut this = self.project();
        let Some(started) = this.hedging.as_mut() else {
            unreachable!("the hedging has started");
        };
        let started = started.as_mut().project();
        let mut failed = false;
        let mut settle = |output: Fut::Output, last: &mut Option<Fut::Output>| match &output {
            Err(failure) if hedgeable(failure, this.when) => {
                failed = true;
                *last = Some(output);
                None
            }
            _ => Some(output),
        };
        if let Some(first) = this.first.as_mut().as_pin_mut()
            && let Poll::Ready(output) = first.poll(cx)
        {
            this.first.set(None);
            if let Some(done) = settle(output, started.last) {
                return Round::Done(done);
            }
        }
        let mut i = 0;
        while i < started.others.len() {
            if let Poll::Ready(output) = started.others[i].as_mut().poll(cx) {
                drop(started.others.swap_remove(i));
                if let Some(done) = settle(output, started.last) {
                    if done.is_ok() {
                        this.hedge.won.fetch_add(1, Ordering::Relaxed);
                    }
                    return Round::Done(done);
                }
            } else {
                i += 1;
            }
        }
        Round::Going { failed }
    }

    /// Polls the attempts in flight, and starts the next when one fails or the delay passes.
    #[inline(never)]
    fn hedge_on(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        loop {
            let failed = match self.as_mut().round(cx) {
                Round::Done(output) => {
                    // The losers are dropped now, not when the caller drops this future.
                    let mut this = self.as_mut().project();
                    this.first.set(None);
                    *this.hedging = None;
                    return Poll::Ready(output);
                }
                Round::Going { failed } => failed,
            };
            let this = self.as_mut().project();
            let in_flight = this.first.is_some();
            let Some(started) = this.hedging.as_mut() else {
                unreachable!("the hedging has started");
            };
            let mut started = started.as_mut().project();
            let in_flight = in_flight || !started.others.is_empty();
            if *started.started >= *started.max {
                if in_flight {
                    return Poll::Pending;
                }
                // Every attempt failed in a way worth another, and none is left.
                return Poll::Ready(started.last.take().expect("a failed attempt was kept"));
            }
            // A failure starts the next attempt at once; otherwise the delay does.
            if !failed && in_flight {
                if started.timer.is_none() {
                    started.timer.set(Some(tokio::time::sleep(*started.delay)));
                }
                let Some(timer) = started.timer.as_mut().as_pin_mut() else {
                    unreachable!("armed above");
                };
                if timer.poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            started.timer.set(None);
            *started.started += 1;
            this.hedge.hedging(*started.started, *started.delay);
            let next = (this.make)();
            started.others.push(Box::pin(next));
        }
    }
}

/// What the attempts polled so far came to.
enum Round<O> {
    /// A success, or a failure not to hedge: the call's answer.
    Done(O),
    /// Every attempt polled is pending or failed in a way worth another.
    Going { failed: bool },
}
