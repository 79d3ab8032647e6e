//! The settings of each kind of named instance: every option of its attribute (and of its
//! builder), each optional, under the attribute's name and in its literal form.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::ser::{Serialize, SerializeMap, Serializer};
use staunch_options::cache as ch;
use staunch_options::circuit_breaker as cb;
use staunch_options::hedge as hg;
use staunch_options::rate_limit::{self as rl, Rate};
use staunch_options::{bulkhead as bh, retry as rt, retry_budget as rb};

use super::literal::{self, Literal};
use crate::config::ConfigError;
use crate::{
    Backoff, BreakerConfig, BudgetConfig, Bulkhead, BulkheadConfig, Cache, CacheConfig,
    CircuitBreaker, Hedge, HedgeConfig, Jitter, Mode, RateLimitConfig, RateLimiter, Retry,
    RetryBudget, RetryConfig, Trip,
};

/// A value as settings write it.
pub(crate) trait Written {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
}

macro_rules! written_as_is {
    ($($ty:ty),*) => {$(
        impl Written for $ty {
            fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.serialize(serializer)
            }
        }
    )*};
}
written_as_is!(u8, u16, u32, u64, usize, f64, bool, &'static str);

impl Written for Rate {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&rl::format(*self))
    }
}

impl Written for Duration {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&staunch_options::duration::format(*self))
    }
}

impl Written for Mode {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Written for Jitter {
    fn write<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(jitter_name(*self))
    }
}

struct AsWritten<'a, T>(&'a T);

impl<T: Written> Serialize for AsWritten<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.write(serializer)
    }
}

/// A settings struct: its fields, how each is read from a literal, its keys, and how a
/// higher-precedence layer overrides a lower one key by key.
macro_rules! settings {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$field_meta:meta])* $field:ident: $ty:ty = $decode:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: Option<$ty>, )*
        }

        impl $name {
            /// Every key these settings take.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Sets `key` from what was written, or says why it cannot.
            pub(crate) fn set(&mut self, key: &str, value: &Literal) -> Result<(), String> {
                match key {
                    $( stringify!($field) => {
                        let decode: fn(&Literal) -> Result<$ty, String> = $decode;
                        self.$field = Some(decode(value)?);
                        Ok(())
                    } )*
                    _ => Err(super::unknown_key(key, Self::KEYS)),
                }
            }

            /// Each key `upper` sets replaces this one's.
            fn replace_with(&mut self, upper: &Self) {
                $( if upper.$field.is_some() { self.$field = upper.$field.clone(); } )*
            }

            /// The keys set, with their values as written.
            pub(crate) fn written(&self) -> BTreeMap<&'static str, String> {
                let mut keys = BTreeMap::new();
                $( if let Some(value) = &self.$field {
                    let text = serde_json::to_string(&AsWritten(value)).unwrap_or_default();
                    keys.insert(stringify!($field), text);
                } )*
                keys
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            /// The keys of the attribute, in their literal forms; every bad key is reported.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let written = BTreeMap::<String, Literal>::deserialize(deserializer)?;
                let mut settings = Self::default();
                let refused: Vec<String> = written
                    .iter()
                    .filter_map(|(key, value)| {
                        settings.set(key, value).err().map(|reason| format!("{key}: {reason}"))
                    })
                    .collect();
                if refused.is_empty() {
                    Ok(settings)
                } else {
                    Err(serde::de::Error::custom(refused.join("; ")))
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                $( if let Some(value) = &self.$field {
                    map.serialize_entry(stringify!($field), &AsWritten(value))?;
                } )*
                map.end()
            }
        }
    };
}

settings! {
    /// The settings of a circuit breaker: `[circuit_breaker.NAME]` in a file, the options of
    /// `#[circuit_breaker]` plus `mode`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::settings::BreakerSettings;
    ///
    /// let settings: BreakerSettings = serde_json::from_str(r#"{"fail_max": 3, "reset": "20s"}"#).unwrap();
    /// assert_eq!(settings, BreakerSettings {
    ///     fail_max: Some(3),
    ///     reset: Some(Duration::from_secs(20)),
    ///     ..BreakerSettings::default()
    /// });
    /// assert_eq!(serde_json::to_string(&settings).unwrap(), r#"{"fail_max":3,"reset":"20s"}"#);
    ///
    /// let error = serde_json::from_str::<BreakerSettings>(r#"{"fail_max": 0, "rest": "1s"}"#).unwrap_err();
    /// assert!(error.to_string().starts_with("fail_max: must be at least 1, got 0; rest: unknown key `rest`; did you mean `reset`?"));
    /// ```
    BreakerSettings {
        /// `"enforce"`, `"observe"` or `"disabled"`.
        mode: Mode = |l| literal::choice(&cb::MODE, l).map(mode_named),
        /// Consecutive failures that open the breaker.
        fail_max: u32 = |l| literal::count(&cb::FAIL_MAX, l),
        /// Calls in the sliding window of a failure-rate breaker.
        window: u32 = |l| literal::count(&cb::WINDOW, l),
        /// The failure percentage that opens it.
        failure_rate: u8 = |l| literal::ratio(&cb::FAILURE_RATE, l),
        /// Calls recorded before the rate is judged.
        min_calls: u32 = |l| literal::count(&cb::MIN_CALLS, l),
        /// A call lasting longer is slow.
        slow_call: Duration = |l| literal::period(&cb::SLOW_CALL, l),
        /// The slow-call percentage that opens it.
        slow_rate: u8 = |l| literal::ratio(&cb::SLOW_RATE, l),
        /// How long OPEN waits before admitting trials.
        reset: Duration = |l| literal::period(&cb::RESET, l),
        /// Trial calls admitted in HALF_OPEN.
        half_open: u16 = |l| literal::count(&cb::HALF_OPEN, l),
    }
}

settings! {
    /// The settings of a bulkhead: `[bulkhead.NAME]`, the options of `#[bulkhead]`.
    ///
    /// ```
    /// use staunch::settings::BulkheadSettings;
    ///
    /// let settings: BulkheadSettings = serde_json::from_str(r#"{"limit": 32, "max_wait": "50ms"}"#).unwrap();
    /// assert_eq!(settings.limit, Some(32));
    /// ```
    BulkheadSettings {
        /// The most calls in flight.
        limit: usize = |l| literal::count(&bh::LIMIT, l),
        /// How long a caller waits for a slot.
        max_wait: Duration = |l| literal::period(&bh::MAX_WAIT, l),
    }
}

settings! {
    /// The settings of a retry policy: `[retry.NAME]`, the options of `#[retry]` (its `when`
    /// and `budget` are code, not settings).
    ///
    /// ```
    /// use staunch::settings::RetrySettings;
    ///
    /// let settings: RetrySettings = serde_json::from_str(r#"{"max": 5, "jitter": "equal"}"#).unwrap();
    /// assert_eq!(settings.max, Some(5));
    /// ```
    RetrySettings {
        /// Total attempts, the first included.
        max: u32 = |l| literal::count(&rt::MAX, l),
        /// `"exp"`, `"constant"` or `"linear"`.
        backoff: &'static str = |l| literal::choice(&rt::BACKOFF, l),
        /// The first delay.
        base: Duration = |l| literal::period(&rt::BASE, l),
        /// The growth factor of exponential backoff.
        factor: f64 = |l| literal::factor(&rt::FACTOR, l),
        /// The cap of one sleep.
        max_delay: Duration = |l| literal::period(&rt::MAX_DELAY, l),
        /// `"full"`, `"equal"`, `"decorrelated"` or `"none"`.
        jitter: Jitter = |l| literal::choice(&rt::JITTER, l).map(jitter_named),
        /// The cap of the whole call, attempts included.
        max_elapsed: Duration = |l| literal::period(&rt::MAX_ELAPSED, l),
    }
}

settings! {
    /// The settings of a retry budget: `[retry_budget.NAME]`, the options of its builder.
    ///
    /// ```
    /// use staunch::settings::RetryBudgetSettings;
    ///
    /// let settings: RetryBudgetSettings = serde_json::from_str(r#"{"ratio": 0.1}"#).unwrap();
    /// assert_eq!(settings.ratio, Some(0.1));
    /// ```
    RetryBudgetSettings {
        /// Retries allowed per first attempt, between 0 and 1.
        ratio: f64 = |l| literal::number("ratio", l).and_then(|x| rb::ratio(x).map_err(|v| literal::got(&v, x))),
        /// Retries allowed each second whatever the traffic.
        min_per_sec: u32 = |l| literal::count(&rb::MIN_PER_SEC, l),
        /// The most retries banked by a quiet period.
        max_balance: u32 = |l| literal::count(&rb::MAX_BALANCE, l),
        /// Whether a retry refused ends the call with `Rejected::BudgetExhausted`.
        reject_when_exhausted: bool = |l| literal::boolean("reject_when_exhausted", l),
    }
}

settings! {
    /// The settings of a rate limiter: `[rate_limit.NAME]`, the options of `#[rate_limit]`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::settings::RateLimitSettings;
    ///
    /// let settings: RateLimitSettings = serde_json::from_str(r#"{"rate": "600/m", "burst": 20}"#).unwrap();
    /// assert_eq!(settings.rate.map(|rate| rate.per), Some(Duration::from_secs(60)));
    /// assert_eq!(serde_json::to_string(&settings).unwrap(), r#"{"rate":"600/m","burst":20}"#);
    /// ```
    RateLimitSettings {
        /// Calls per period on average: `"100/s"`, `"600/m"`, `"10/500ms"`.
        rate: Rate = literal::rate,
        /// Calls allowed at once after a quiet period.
        burst: u64 = |l| literal::count(&rl::BURST, l),
        /// How long a caller waits for its turn.
        max_wait: Duration = |l| literal::period(&rl::MAX_WAIT, l)
            .and_then(|wait| rl::max_wait(wait).map_err(|v| literal::got(&v, wait))),
    }
}

settings! {
    /// The settings of a hedge: `[hedge.NAME]`, the options of `#[hedge]` (its `when` is code,
    /// not a setting).
    ///
    /// ```
    /// use staunch::settings::HedgeSettings;
    ///
    /// let settings: HedgeSettings = serde_json::from_str(r#"{"delay": "50ms", "max": 3}"#).unwrap();
    /// assert_eq!(settings.max, Some(3));
    /// ```
    HedgeSettings {
        /// How long an attempt may go unanswered before the next starts.
        delay: Duration = |l| literal::period(&hg::DELAY, l),
        /// Attempts in all, the first included.
        max: u32 = |l| literal::count(&hg::MAX, l),
    }
}

settings! {
    /// The settings of a cache: `[cache.NAME]`, the options of `#[cache]` (its `key` is code,
    /// not a setting).
    ///
    /// ```
    /// use staunch::settings::CacheSettings;
    ///
    /// let settings: CacheSettings = serde_json::from_str(r#"{"ttl": "30s", "stale": "10m"}"#).unwrap();
    /// assert_eq!(settings.stale, Some(std::time::Duration::from_secs(600)));
    /// ```
    CacheSettings {
        /// How long an answer is served without calling again.
        ttl: Duration = |l| literal::period(&ch::TTL, l)
            .and_then(|ttl| ch::ttl(ttl).map_err(|v| literal::got(&v, ttl))),
        /// How old an answer may be and still be served when the call fails.
        stale: Duration = |l| literal::period(&ch::STALE, l),
        /// The most answers kept.
        capacity: u64 = |l| literal::count(&ch::CAPACITY, l),
    }
}

fn mode_named(name: &str) -> Mode {
    Mode::parse(name).unwrap_or_default()
}

fn jitter_named(name: &str) -> Jitter {
    match name {
        "equal" => Jitter::Equal,
        "decorrelated" => Jitter::Decorrelated,
        "none" => Jitter::None,
        _ => Jitter::Full,
    }
}

fn jitter_name(jitter: Jitter) -> &'static str {
    match jitter {
        Jitter::Full => "full",
        Jitter::Equal => "equal",
        Jitter::Decorrelated => "decorrelated",
        Jitter::None => "none",
    }
}

impl BreakerSettings {
    /// Every setting of `config`; `min_calls` is left out when it is its default, the window.
    ///
    /// ```
    /// use staunch::CircuitBreaker;
    /// use staunch::settings::BreakerSettings;
    ///
    /// let config = CircuitBreaker::builder("docs-of").fail_max(3).config().unwrap();
    /// assert_eq!(serde_json::to_string(&BreakerSettings::of(&config)).unwrap(),
    ///     r#"{"mode":"enforce","fail_max":3,"reset":"1m","half_open":1}"#);
    /// ```
    #[must_use]
    pub fn of(config: &BreakerConfig) -> Self {
        let mut settings = Self {
            mode: Some(config.mode()),
            reset: Some(config.reset()),
            half_open: Some(config.half_open()),
            ..Self::default()
        };
        match config.trip() {
            Trip::Consecutive { fail_max } => settings.fail_max = Some(fail_max),
            Trip::FailureRate {
                window,
                failure_rate,
                min_calls,
            } => {
                settings.window = Some(window);
                settings.failure_rate = Some(failure_rate);
                settings.min_calls = (min_calls != window).then_some(min_calls);
            }
        }
        if let Some(slow) = config.slow() {
            settings.slow_call = Some(slow.after);
            settings.slow_rate = Some(slow.rate);
        }
        settings
    }

    /// `upper`'s keys over these: a trip policy written above replaces the one below (a
    /// `window` drops `fail_max`, a `fail_max` drops the window's options).
    pub(crate) fn overlay(&mut self, upper: &Self) {
        if upper.window.is_some() && upper.fail_max.is_none() {
            self.fail_max = None;
        }
        if upper.fail_max.is_some() && upper.window.is_none() {
            self.window = None;
            self.failure_rate = None;
            self.min_calls = None;
            self.slow_call = None;
            self.slow_rate = None;
        }
        self.replace_with(upper);
    }

    /// The configuration these settings make for the breaker created with `base`, checked
    /// as the builder checks it.
    pub(crate) fn config(&self, base: &BreakerConfig) -> Result<BreakerConfig, ConfigError> {
        let mut builder = CircuitBreaker::builder(base.name());
        if let Some(mode) = self.mode {
            builder = builder.mode(mode);
        }
        if let Some(n) = self.fail_max {
            builder = builder.fail_max(n);
        }
        if let Some(n) = self.window {
            builder = builder.window(n);
        }
        if let Some(percent) = self.failure_rate {
            builder = builder.failure_rate(percent);
        }
        if let Some(n) = self.min_calls {
            builder = builder.min_calls(n);
        }
        if let Some(after) = self.slow_call {
            builder = builder.slow_call(after);
        }
        if let Some(percent) = self.slow_rate {
            builder = builder.slow_rate(percent);
        }
        if let Some(after) = self.reset {
            builder = builder.reset(after);
        }
        if let Some(trials) = self.half_open {
            builder = builder.half_open(trials);
        }
        builder.config()
    }
}

impl BulkheadSettings {
    /// Every setting of `config`.
    #[must_use]
    pub fn of(config: &BulkheadConfig) -> Self {
        Self {
            limit: Some(config.limit()),
            max_wait: Some(config.max_wait()),
        }
    }

    pub(crate) fn overlay(&mut self, upper: &Self) {
        self.replace_with(upper);
    }

    pub(crate) fn config(&self, base: &BulkheadConfig) -> Result<BulkheadConfig, ConfigError> {
        let limit = self.limit.unwrap_or(base.limit());
        let mut builder = Bulkhead::builder(limit).name(base.name());
        if let Some(max_wait) = self.max_wait {
            builder = builder.max_wait(max_wait);
        }
        builder.config()
    }
}

impl RetrySettings {
    /// Every setting of `config`; `base` and `max_delay` are left out where they are what the
    /// other makes them by default, so that writing the other alone stays valid.
    #[must_use]
    pub fn of(config: &RetryConfig) -> Self {
        let (backoff, factor) = match config.backoff() {
            Backoff::Exponential { factor } => ("exp", Some(factor)),
            Backoff::Constant => ("constant", None),
            Backoff::Linear => ("linear", None),
        };
        let (base, max_delay) = (config.base(), config.max_delay());
        let defaults = |base, max_delay| rt::delays(base, max_delay).ok();
        let (base, max_delay) = if defaults(None, None) == Some((base, max_delay)) {
            (None, None)
        } else if defaults(Some(base), None) == Some((base, max_delay)) {
            (Some(base), None)
        } else if defaults(None, Some(max_delay)) == Some((base, max_delay)) {
            (None, Some(max_delay))
        } else {
            (Some(base), Some(max_delay))
        };
        Self {
            max: Some(config.max_attempts()),
            backoff: Some(backoff),
            base,
            factor,
            max_delay,
            jitter: Some(config.jitter()),
            max_elapsed: config.max_elapsed(),
        }
    }

    pub(crate) fn overlay(&mut self, upper: &Self) {
        if upper.backoff.is_some_and(|backoff| backoff != "exp") && upper.factor.is_none() {
            self.factor = None;
        }
        self.replace_with(upper);
    }

    /// The configuration for the policy created with `base`, which keeps its seed.
    pub(crate) fn config(&self, base: &RetryConfig) -> Result<RetryConfig, ConfigError> {
        let (name, seed) = (base.name(), base.seed());
        let mut builder = match self.backoff {
            Some("constant") => Retry::constant(),
            Some("linear") => Retry::linear(),
            _ => Retry::exponential(),
        }
        .name(name);
        if let Some(max) = self.max {
            builder = builder.max_attempts(max);
        }
        if let Some(base) = self.base {
            builder = builder.base(base);
        }
        if let Some(factor) = self.factor {
            builder = builder.factor(factor);
        }
        if let Some(max_delay) = self.max_delay {
            builder = builder.max_delay(max_delay);
        }
        if let Some(jitter) = self.jitter {
            builder = builder.jitter(jitter);
        }
        if let Some(max_elapsed) = self.max_elapsed {
            builder = builder.max_elapsed(max_elapsed);
        }
        if let Some(seed) = seed {
            builder = builder.seed(seed);
        }
        builder.config()
    }
}

impl RetryBudgetSettings {
    /// Every setting of `config`.
    #[must_use]
    pub fn of(config: &BudgetConfig) -> Self {
        Self {
            ratio: Some(config.ratio()),
            min_per_sec: Some(config.min_per_sec()),
            max_balance: Some(config.max_balance()),
            reject_when_exhausted: Some(config.rejects_when_exhausted()),
        }
    }

    pub(crate) fn overlay(&mut self, upper: &Self) {
        self.replace_with(upper);
    }

    pub(crate) fn config(&self, base: &BudgetConfig) -> Result<BudgetConfig, ConfigError> {
        let mut builder = RetryBudget::builder(base.name());
        if let Some(ratio) = self.ratio {
            builder = builder.ratio(ratio);
        }
        if let Some(n) = self.min_per_sec {
            builder = builder.min_per_sec(n);
        }
        if let Some(n) = self.max_balance {
            builder = builder.max_balance(n);
        }
        if let Some(rejects) = self.reject_when_exhausted {
            builder = builder.reject_when_exhausted(rejects);
        }
        builder.config()
    }
}

impl RateLimitSettings {
    /// Every setting of `config`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::RateLimiter;
    /// use staunch::settings::RateLimitSettings;
    ///
    /// let config = RateLimiter::builder(100, Duration::from_secs(1)).config().unwrap();
    /// assert_eq!(serde_json::to_string(&RateLimitSettings::of(&config)).unwrap(),
    ///     r#"{"rate":"100/s","burst":100,"max_wait":"0s"}"#);
    /// ```
    #[must_use]
    pub fn of(config: &RateLimitConfig) -> Self {
        let rate = Rate {
            calls: config.calls(),
            per: config.period(),
        };
        Self {
            rate: Some(rate),
            burst: Some(config.burst()),
            max_wait: Some(config.max_wait()),
        }
    }

    /// `upper`'s keys over these: a rate written above without a burst brings its own default
    /// burst when the burst below was its rate's default (a burst chosen is kept).
    pub(crate) fn overlay(&mut self, upper: &Self) {
        if upper.rate.is_some()
            && upper.burst.is_none()
            && let (Some(rate), Some(burst)) = (self.rate, self.burst)
            && burst == rate.default_burst()
        {
            self.burst = None;
        }
        self.replace_with(upper);
    }

    pub(crate) fn config(&self, base: &RateLimitConfig) -> Result<RateLimitConfig, ConfigError> {
        let rate = self.rate.unwrap_or(Rate {
            calls: base.calls(),
            per: base.period(),
        });
        let mut builder = RateLimiter::builder(rate.calls, rate.per).name(base.name());
        if let Some(burst) = self.burst {
            builder = builder.burst(burst);
        }
        if let Some(max_wait) = self.max_wait {
            builder = builder.max_wait(max_wait);
        }
        builder.config()
    }
}

impl HedgeSettings {
    /// Every setting of `config`.
    #[must_use]
    pub fn of(config: &HedgeConfig) -> Self {
        Self {
            delay: Some(config.delay()),
            max: Some(config.max()),
        }
    }

    pub(crate) fn overlay(&mut self, upper: &Self) {
        self.replace_with(upper);
    }

    pub(crate) fn config(&self, base: &HedgeConfig) -> Result<HedgeConfig, ConfigError> {
        Hedge::builder()
            .name(base.name())
            .delay(self.delay.unwrap_or(base.delay()))
            .max(self.max.unwrap_or(base.max()))
            .config()
    }
}

impl CacheSettings {
    /// Every setting of `config`; `stale` only when it is longer than `ttl` (otherwise it
    /// follows `ttl`).
    #[must_use]
    pub fn of(config: &CacheConfig) -> Self {
        Self {
            ttl: Some(config.ttl()),
            stale: (config.stale() > config.ttl()).then_some(config.stale()),
            capacity: Some(config.capacity()),
        }
    }

    pub(crate) fn overlay(&mut self, upper: &Self) {
        self.replace_with(upper);
    }

    /// Over `base`. Without `stale`, the cache serves no stale answer.
    pub(crate) fn config(&self, base: &CacheConfig) -> Result<CacheConfig, ConfigError> {
        let mut builder = Cache::builder(self.ttl.unwrap_or(base.ttl()))
            .name(base.name())
            .capacity(self.capacity.unwrap_or(base.capacity()));
        if let Some(stale) = self.stale {
            builder = builder.stale(stale);
        }
        builder.config()
    }
}

/// A configuration serializes as the settings it amounts to, under the options' names: what
/// events and the snapshot show, and what a file takes back.
macro_rules! serialized_as_settings {
    ($($config:ty => $settings:ty),*) => {$(
        impl Serialize for $config {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$settings>::of(self).serialize(serializer)
            }
        }
    )*};
}
serialized_as_settings!(
    BreakerConfig => BreakerSettings,
    BulkheadConfig => BulkheadSettings,
    RetryConfig => RetrySettings,
    BudgetConfig => RetryBudgetSettings,
    RateLimitConfig => RateLimitSettings,
    HedgeConfig => HedgeSettings,
    CacheConfig => CacheSettings
);
