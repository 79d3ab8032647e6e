//! The retry budget: retries may add at most a fraction of load on top of first attempts.
//!
//! A token bucket shared by every function naming the budget. Each first attempt deposits
//! `ratio` of a token, each retry withdraws a whole one, and `min_per_sec` tokens accrue each
//! second so that a quiet service can still retry; the balance never exceeds `max_balance`.
//! With the budget spent, a retry is not made and the last error is returned (or
//! `Rejected::BudgetExhausted`, if the budget is built to say so): under an outage retries stop
//! multiplying the load on the failing dependency.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::config::{ConfigError, checked};
use crate::observe::{self, Event, Hub, InstanceKind};
use crate::{clock, names};

/// Milli-tokens: one retry costs this many.
const TOKEN: i64 = 1000;

/// The validated settings of a retry budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    name: &'static str,
    /// Milli-tokens deposited by each first attempt.
    deposit: i64,
    min_per_sec: u32,
    max_balance: u32,
    rejects: bool,
}

impl BudgetConfig {
    /// The budget every `#[retry(budget = "name")]` gets unless one was built first:
    /// 20 % of first attempts, 10 retries per second, at most 100 retries banked.
    #[must_use]
    pub const fn default_for(name: &'static str) -> Self {
        Self {
            name,
            deposit: 200,
            min_per_sec: 10,
            max_balance: 100,
            rejects: false,
        }
    }

    /// The budget's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether a retry refused by the spent budget ends the call with
    /// `Rejected::BudgetExhausted` rather than the last error.
    #[must_use]
    pub fn rejects_when_exhausted(&self) -> bool {
        self.rejects
    }

    /// Retries allowed per first attempt.
    #[must_use]
    pub fn ratio(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // at most 1000
        let deposit = self.deposit as f64;
        deposit / 1000.0
    }

    /// Retries allowed each second whatever the traffic.
    #[must_use]
    pub fn min_per_sec(&self) -> u32 {
        self.min_per_sec
    }

    /// The most retries banked by a quiet period.
    #[must_use]
    pub fn max_balance(&self) -> u32 {
        self.max_balance
    }
}

/// Builder of a [`RetryBudget`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryBudgetBuilder {
    name: &'static str,
    ratio: f64,
    min_per_sec: u32,
    max_balance: u32,
    rejects: bool,
}

impl RetryBudgetBuilder {
    /// Retries allowed per first attempt, between 0 and 1 (default 0.2).
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries allowed each second whatever the traffic (default 10).
    pub fn min_per_sec(mut self, retries: u32) -> Self {
        self.min_per_sec = retries;
        self
    }

    /// The most retries banked by a quiet period (default 100, at least 1).
    pub fn max_balance(mut self, retries: u32) -> Self {
        self.max_balance = retries;
        self
    }

    /// With `true`, a retry that the spent budget refuses ends the call with
    /// [`Rejected::BudgetExhausted`](crate::Rejected::BudgetExhausted), so callers can tell
    /// "the dependency failed" from "we stopped retrying to protect it"; with `false` (the
    /// default), the last attempt's error is returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// use staunch::{Rejected, RetryBudget};
    ///
    /// #[derive(Debug, PartialEq)]
    /// enum Error { Down, Rejected(Rejected) }
    /// impl From<Rejected> for Error {
    ///     fn from(r: Rejected) -> Self { Self::Rejected(r) }
    /// }
    ///
    /// RetryBudget::builder("docs-rejecting-budget")
    ///     .ratio(0.0).min_per_sec(0).max_balance(1)
    ///     .reject_when_exhausted(true)
    ///     .build_shared()
    ///     .unwrap();
    ///
    /// #[staunch::retry(max = 5, base = "1ms", budget = "docs-rejecting-budget")]
    /// async fn down() -> Result<(), Error> {
    ///     Err(Error::Down)
    /// }
    ///
    /// // One banked retry, then the budget refuses the next one.
    /// assert_eq!(
    ///     down().await,
    ///     Err(Error::Rejected(Rejected::BudgetExhausted { name: "docs-rejecting-budget" }))
    /// );
    /// # }
    /// ```
    pub fn reject_when_exhausted(mut self, rejects: bool) -> Self {
        self.rejects = rejects;
        self
    }

    /// A budget of its own, owned by the caller.
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        self.config().map(RetryBudget::new)
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// [`ConfigError`] for a ratio outside 0..=1 or a zero `max_balance`.
    pub fn config(self) -> Result<BudgetConfig, ConfigError> {
        use staunch_options::retry_budget::{MAX_BALANCE, ratio};
        checked(
            staunch_options::circuit_breaker::NAME.check(self.name),
            self.name,
        )?;
        checked(ratio(self.ratio), self.ratio)?;
        checked(
            MAX_BALANCE.check(u64::from(self.max_balance)),
            self.max_balance,
        )?;
        Ok(BudgetConfig {
            name: self.name,
            // In 0..=1000 after the check above.
            #[allow(clippy::cast_possible_truncation)]
            deposit: (self.ratio * 1000.0).round() as i64,
            min_per_sec: self.min_per_sec,
            max_balance: self.max_balance,
            rejects: self.rejects,
        })
    }
}

/// A retry budget shared by every retry that names it.
///
/// ```
/// use staunch::RetryBudget;
///
/// let budget = RetryBudget::builder("docs-budget").ratio(0.1).min_per_sec(0).max_balance(5)
///     .build_shared()
///     .unwrap();
/// // A fresh budget holds its whole balance; each retry spends one token.
/// assert!((0..5).all(|_| budget.try_withdraw()));
/// assert!(!budget.try_withdraw());
/// // Ten first attempts at a 10 % ratio earn one retry back.
/// (0..10).for_each(|_| budget.deposit());
/// assert!(budget.try_withdraw());
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    name: &'static str,
    /// The settings in force, read on each deposit and withdrawal.
    deposit: AtomicI64,
    min_per_sec: AtomicU32,
    max_balance: AtomicU32,
    rejects: AtomicBool,
    applied: Mutex<BudgetConfig>,
    created: BudgetConfig,
    balance: AtomicI64,
    refilled_at: AtomicU64,
    spent: AtomicU64,
    refused: AtomicU64,
    hub: Hub,
}

/// Counters of a retry budget.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BudgetMetrics {
    /// Retries that may be made now.
    pub balance: f64,
    /// Retries made through this budget.
    pub spent: u64,
    /// Retries refused because the budget was spent.
    pub refused: u64,
}

impl RetryBudget {
    /// Starts building a budget named `name`.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            name: names::intern(name),
            ratio: 0.2,
            min_per_sec: 10,
            max_balance: 100,
            rejects: false,
        }
    }

    /// A budget with validated settings, starting full.
    #[must_use]
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            name: config.name,
            deposit: AtomicI64::new(config.deposit),
            min_per_sec: AtomicU32::new(config.min_per_sec),
            max_balance: AtomicU32::new(config.max_balance),
            rejects: AtomicBool::new(config.rejects),
            applied: Mutex::new(config),
            created: config,
            balance: AtomicI64::new(i64::from(config.max_balance) * TOKEN),
            refilled_at: AtomicU64::new(clock::now()),
            spent: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            hub: Hub::new(),
        }
    }

    /// The budget's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> BudgetConfig {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings it was created with.
    pub(crate) fn created_config(&self) -> BudgetConfig {
        self.created
    }

    /// Whether `config` can replace the settings in force: any of the same name can.
    pub(crate) fn fits(&self, config: &BudgetConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)
    }

    /// The budget with `created` as the settings other call sites are checked against.
    pub(crate) fn created_as(mut self, created: BudgetConfig) -> Self {
        self.created = created;
        self
    }

    /// Whether a retry it refuses ends the call with `Rejected::BudgetExhausted`.
    pub(crate) fn rejects_when_exhausted(&self) -> bool {
        self.rejects.load(Ordering::Relaxed)
    }

    /// Puts `config` in force from the next retry on, and returns the settings it replaced.
    /// The balance stays, cut to a smaller `max_balance`.
    ///
    /// ```
    /// use staunch::RetryBudget;
    ///
    /// let budget = RetryBudget::builder("docs-budget-retuned").build().unwrap();
    /// let tighter = RetryBudget::builder("docs-budget-retuned").max_balance(2).config().unwrap();
    /// budget.reconfigure(tighter).unwrap();
    /// assert_eq!(budget.metrics().balance, 2.0);
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name; nothing changes.
    pub fn reconfigure(&self, config: BudgetConfig) -> Result<BudgetConfig, ConfigError> {
        self.fits(&config)?;
        let old = {
            let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
            self.deposit.store(config.deposit, Ordering::Relaxed);
            self.min_per_sec
                .store(config.min_per_sec, Ordering::Relaxed);
            self.max_balance
                .store(config.max_balance, Ordering::Relaxed);
            self.rejects.store(config.rejects, Ordering::Relaxed);
            self.balance.fetch_min(self.cap(), Ordering::Relaxed);
            std::mem::replace(&mut *applied, config)
        };
        if config != old {
            observe::settings_changed(
                &self.hub,
                InstanceKind::RetryBudget,
                self.name,
                &old,
                &config,
            );
        }
        Ok(old)
    }

    /// A receiver of every [`Event`] of this budget from now on: each retry it refused.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    fn cap(&self) -> i64 {
        i64::from(self.max_balance.load(Ordering::Relaxed)) * TOKEN
    }

    /// Credits one first attempt.
    pub fn deposit(&self) {
        let deposit = self.deposit.load(Ordering::Relaxed);
        if deposit == 0 {
            return;
        }
        // Relaxed: the balance is a counter; going briefly above the cap is harmless.
        let after = self.balance.fetch_add(deposit, Ordering::Relaxed);
        if after + deposit > self.cap() {
            self.balance.fetch_min(self.cap(), Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget, or says there is none left.
    pub fn try_withdraw(&self) -> bool {
        self.refill();
        let taken = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= TOKEN).then_some(b - TOKEN)
            })
            .is_ok();
        let counter = if taken { &self.spent } else { &self.refused };
        counter.fetch_add(1, Ordering::Relaxed);
        taken
    }

    /// Adds the `min_per_sec` tokens earned since the last refill.
    fn refill(&self) {
        let min_per_sec = self.min_per_sec.load(Ordering::Relaxed);
        if min_per_sec == 0 {
            return;
        }
        let now = clock::now();
        let last = self.refilled_at.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(last);
        // Milli-tokens: min_per_sec per second is min_per_sec per million nanoseconds each.
        let earned = u128::from(elapsed) * u128::from(min_per_sec) / 1_000_000;
        if earned == 0
            || self
                .refilled_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let earned = i64::try_from(earned).unwrap_or(i64::MAX).min(self.cap());
        let after = self.balance.fetch_add(earned, Ordering::Relaxed);
        if after.saturating_add(earned) > self.cap() {
            self.balance.fetch_min(self.cap(), Ordering::Relaxed);
        }
    }

    /// Counters.
    #[must_use]
    pub fn metrics(&self) -> BudgetMetrics {
        #[allow(clippy::cast_precision_loss)] // a balance of at most u32::MAX tokens
        let balance = self.balance.load(Ordering::Relaxed).max(0) as f64 / TOKEN as f64;
        BudgetMetrics {
            balance,
            spent: self.spent.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}
