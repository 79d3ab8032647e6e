//! Circuit breakers shared by a fleet through Redis (feature `redis`): every replica of a
//! service sees one state per breaker, at no cost per healthy call.
//!
//! The local breaker decides every call, as it does alone; it is the cache of the fleet's
//! state. What is worth sharing (a failure, the first success after failures, a change of
//! state) goes into a bounded queue on the caller's thread and reaches Redis from a task, as
//! one Lua script each: the fleet counts its failures in one hash, and the script that counts
//! the last one opens the breaker, with a deadline on Redis's clock, and publishes it. Every
//! replica takes the state in from that message, and from a periodic read that bounds how
//! stale a replica can be when a message is lost. When Redis is unreachable, slow or gone, no
//! call waits on it: records are shed once the queue is full, each breaker decides alone, a
//! WARN says so (and, with feature `metrics`, `staunch_redis_connected` drops to 0 and
//! `staunch_redis_records_total{result="dropped"}` counts what was shed), and the fleet's
//! state is taken in again when Redis answers.
//!
//! When an open breaker's deadline passes, one replica at a time holds a lease of its trials
//! (with a TTL, so that a replica gone during them does not hold the breaker) and runs its
//! `half_open` trials; the others stay OPEN until the result is published.
//!
//! A window breaker (`window`, `failure_rate`, `min_calls`) decides on the fleet's window: the
//! last `window` calls of each replica, added up. Each replica reports its window's counts
//! with each failure or slow call, and at each `resync` while CLOSED; a report counts for three
//! resyncs (a replica gone drops out). The script that finds the sum at `min_calls` calls and
//! over `failure_rate` (or `slow_rate`) opens the breaker. Successes since a replica's last
//! report are not in the sum until its next, so the fleet's rate reads high by at most a
//! resync's successes; failures are not late (each is reported as it happens).
//!
//! Under either policy a replica's own breaker still opens on its own counts, and its
//! opening is the fleet's: sharing never makes a replica slower to protect itself.
//!
//! When Redis answers again, what it holds is the fleet's: a breaker the fleet has closed
//! closes, and what a replica counted while Redis was away is cleared. When Redis holds no
//! state for a breaker (flushed, or restarted without its data), a replica holding an opening
//! it took in from the fleet writes it back, for what the fleet's deadline leaves; an opening
//! a replica made alone while Redis was away is its own, and closes.
//!
//! Keys, under the namespace (`staunch` unless told): `{namespace}:breaker:{name}`, a hash of
//! `state` (`closed`, `open`, `forced_open`), `failures` (the fleet's consecutive failures
//! while closed) and `open_until` (milliseconds on Redis's clock);
//! `{namespace}:breaker:{name}:trial`, the lease; `{namespace}:breaker:{name}:window`, each
//! replica's report of its window (`"{calls} {failures} {slow} {at_ms}"`); the channel
//! `{namespace}:breakers` carries `"{state} {remaining_ms} {name}"` for each change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::Either;
use tokio::sync::mpsc;

use crate::breaker::{BreakerStore, Record, SharedState, Trip};
use crate::registry::SharedBreakers;
use crate::{CircuitBreaker, CircuitState, ConfigError, Registry};

/// Counts a failure (closed), and opens the breaker when the fleet's count reaches `fail_max`.
const FAILURE: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if state == 'forced_open' then return {'forced_open', 0} end
if state == 'open' then return {'open', math.max(open_until - now, 0)} end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[2]), 'failures', 0)
  redis.call('DEL', KEYS[3])
  redis.call('PUBLISH', KEYS[2], 'open ' .. ARGV[2] .. ' ' .. ARGV[3])
  return {'open', tonumber(ARGV[2])}
end
return {'closed', 0}
";

/// Ends the fleet's run of failures (a success after failures, while closed).
const RECOVERED: &str = r"
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then redis.call('HSET', KEYS[1], 'failures', 0) end
return {state, 0}
";

/// A replica's breaker changed state on its own: the fleet's follows, unless it is held open
/// or already open for longer.
const TRANSITION: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local to = ARGV[1]
if to == 'open' then
  if state == 'forced_open' then return {'forced_open', 0} end
  if state == 'open' and open_until > now then return {'open', open_until - now} end
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[2]), 'failures', 0)
elseif to == 'forced_open' then
  redis.call('HSET', KEYS[1], 'state', 'forced_open', 'failures', 0)
else
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('PUBLISH', KEYS[2], to .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return {to, tonumber(ARGV[2])}
";

/// A window breaker's report of its window (calls, failures, slow calls): the fleet's window
/// is every replica's last report younger than the horizon, added up, judged as one window is.
const WINDOW: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if state == 'forced_open' then return {'forced_open', 0} end
if state == 'open' then return {'open', math.max(open_until - now, 0)} end
local horizon = tonumber(ARGV[9])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. now)
redis.call('PEXPIRE', KEYS[4], horizon)
local calls, failures, slow = 0, 0, 0
local reports = redis.call('HGETALL', KEYS[4])
for i = 1, #reports, 2 do
  local c, f, s, at = string.match(reports[i + 1], '^(%d+) (%d+) (%d+) (%d+)$')
  if at and tonumber(at) + horizon >= now then
    calls = calls + tonumber(c)
    failures = failures + tonumber(f)
    slow = slow + tonumber(s)
  else
    redis.call('HDEL', KEYS[4], reports[i])
  end
end
local slow_rate = tonumber(ARGV[7])
if calls >= tonumber(ARGV[5]) and (failures * 100 >= tonumber(ARGV[6]) * calls
    or (slow_rate > 0 and slow * 100 >= slow_rate * calls)) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[8]), 'failures', 0)
  redis.call('DEL', KEYS[3], KEYS[4])
  redis.call('PUBLISH', KEYS[2], 'open ' .. ARGV[8] .. ' ' .. ARGV[10])
  return {'open', tonumber(ARGV[8])}
end
return {'closed', 0}
";

/// The trials of a breaker whose OPEN deadline passed, for one replica of the fleet at a time:
/// a lease that expires (a replica gone during its trials does not hold the breaker).
const LEASE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'absent', 0} end
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state ~= 'open' then return {state, 0} end
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until > now then return {'open', open_until - now} end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[1]) then return {'trial', 0} end
return {'open', math.max(redis.call('PTTL', KEYS[2]), 1)}
";

/// The fleet's state, for a replica catching up: `absent` when Redis holds none (never
/// written, flushed, or restarted without its data).
const READ: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'absent', 0} end
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if state == 'open' then return {'open', math.max(open_until - now, 0)} end
return {state, 0}
";

/// Every sharing started in this process, for [`crate::metrics::publish`].
#[cfg(feature = "metrics")]
static STARTED: std::sync::Mutex<Vec<Arc<Inner>>> = std::sync::Mutex::new(Vec::new());

/// Sets the series of every sharing (`staunch_redis_connected`, `staunch_redis_records_total`).
#[cfg(feature = "metrics")]
pub(crate) fn publish_metrics() {
    let started = STARTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for inner in started {
        inner.publish();
    }
}

/// In `Inner::due`: this replica holds the breaker's trials (no deadline to wait for).
const HELD: u64 = u64::MAX;

/// Breakers of a registry sharing their state through Redis, configured once at startup.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), staunch::ConfigError> {
/// use staunch::redis::SharedThroughRedis;
///
/// // Every named breaker of the process, under the key namespace `shop`.
/// let shared = SharedThroughRedis::builder("redis://127.0.0.1:6379/")
///     .namespace("shop")
///     .start()?;
/// # drop(shared); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SharedThroughRedis {
    inner: Arc<Inner>,
}

/// Builder of [`SharedThroughRedis`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SharedThroughRedisBuilder {
    url: String,
    namespace: String,
    which: SharedBreakers,
    registry: &'static Registry,
    queue: usize,
    timeout: Duration,
    resync: Duration,
    lease: Duration,
}

/// What the sharing has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RedisMetrics {
    /// Records Redis took in.
    pub sent: u64,
    /// Records shed: the queue was full (Redis slow or unreachable) or Redis refused them.
    pub dropped: u64,
    /// States taken in from the fleet (messages and periodic reads).
    pub adopted: u64,
    /// Whether the last exchange with Redis succeeded.
    pub connected: bool,
}

#[derive(Debug)]
struct Inner {
    namespace: String,
    registry: &'static Registry,
    sent: AtomicU64,
    dropped: AtomicU64,
    adopted: AtomicU64,
    connected: AtomicBool,
    /// When Redis last failed (on [`crate::clock`]): what was queued before is shed.
    lost_at: AtomicU64,
    /// How long a replica holds a breaker's trials.
    lease: Duration,
    /// How long a window's report counts in the fleet's window (three resyncs: a replica that
    /// stopped reporting drops out).
    horizon: Duration,
    /// This replica, as its leases name it.
    owner: String,
    /// When each open breaker's deadline passes (on [`crate::clock`]), for a lease of its
    /// trials; and the breakers whose trials this replica holds ([`HELD`]).
    due: std::sync::Mutex<std::collections::HashMap<&'static str, u64>>,
    /// Wakes the listener when `due` changed.
    rescheduled: tokio::sync::Notify,
    /// Set once, when Redis first fails after answering (or never answered): WARN once per
    /// outage.
    warned: AtomicBool,
}

/// A record, the breaker it is about, and when it was queued.
type Queued = (&'static str, Record, u64);

/// The breakers' side: records queued for the sending task.
#[derive(Debug)]
struct Queue {
    records: mpsc::Sender<Queued>,
    inner: Arc<Inner>,
}

impl BreakerStore for Queue {
    fn record(&self, breaker: &'static str, record: Record) {
        // While Redis is away the breaker decides alone, and what it counts meanwhile is not
        // the fleet's: once Redis answers, the fleet's state is taken in instead.
        if !self.inner.connected.load(Ordering::Relaxed) {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let queued = (breaker, record, crate::clock::now());
        if self.records.try_send(queued).is_err() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            self.inner.lost("the queue of records to send is full");
        }
    }
}

impl SharedThroughRedis {
    /// Starts building a sharing through the Redis at `url` (`redis://host:port/db`): every
    /// named breaker of the process-wide registry, under the key namespace `staunch`.
    pub fn builder(url: impl Into<String>) -> SharedThroughRedisBuilder {
        SharedThroughRedisBuilder {
            url: url.into(),
            namespace: "staunch".to_owned(),
            which: SharedBreakers::Every,
            registry: crate::registry(),
            queue: 1024,
            timeout: Duration::from_millis(250),
            resync: Duration::from_secs(5),
            lease: Duration::from_secs(10),
        }
    }

    /// What the sharing has done so far.
    #[must_use]
    pub fn metrics(&self) -> RedisMetrics {
        let inner = &self.inner;
        RedisMetrics {
            sent: inner.sent.load(Ordering::Relaxed),
            dropped: inner.dropped.load(Ordering::Relaxed),
            adopted: inner.adopted.load(Ordering::Relaxed),
            connected: inner.connected.load(Ordering::Relaxed),
        }
    }
}

impl SharedThroughRedisBuilder {
    /// The prefix of every key and of the channel (`shop` makes `shop:breaker:payments`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Shares only the breakers of these names (by default every breaker).
    pub fn breakers<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.which = SharedBreakers::Named(names.into_iter().map(Into::into).collect());
        self
    }

    /// The breakers of `registry` rather than the process's.
    pub fn registry(mut self, registry: &'static Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Records waiting to be sent at most (by default 1024): beyond, they are shed.
    pub fn queue(mut self, records: usize) -> Self {
        self.queue = records;
        self
    }

    /// How long a command may take before Redis counts as slow and the record is shed (by
    /// default 250 ms).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often each replica reads the fleet's state, in case a message was lost (by default
    /// every 5 s): the bound on how stale a replica's breaker can be.
    pub fn resync(mut self, every: Duration) -> Self {
        self.resync = every;
        self
    }

    /// How long one replica holds a breaker's HALF_OPEN trials (by default 10 s): the other
    /// replicas stay OPEN meanwhile, and take the trials over if it is gone when the lease
    /// expires. It is also how long after the fleet's deadline a replica that cannot reach
    /// Redis waits before trying HALF_OPEN alone.
    pub fn trial_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Shares the breakers from now on (those created later too) and starts the tasks that
    /// talk to Redis on the current tokio runtime. Redis need not be up: the breakers decide
    /// alone until it answers.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a URL Redis cannot use, an empty namespace, a queue of
    /// 0, zero durations, or outside a tokio runtime; [`ConfigError::Conflict`] when the
    /// registry's breakers already share through a store.
    pub fn start(self) -> Result<SharedThroughRedis, ConfigError> {
        let out_of_range = |option, expected, got: String| ConfigError::OutOfRange {
            option,
            expected,
            got,
        };
        const URL: &str = "a Redis URL, like redis://127.0.0.1:6379/";
        let client = ::redis::Client::open(self.url.as_str())
            .map_err(|error| out_of_range("url", URL, error.to_string()))?;
        if self.namespace.is_empty() {
            return Err(out_of_range("namespace", "not empty", "\"\"".to_owned()));
        }
        if self.queue == 0 {
            return Err(out_of_range("queue", "at least 1", "0".to_owned()));
        }
        for (option, duration) in [
            ("command_timeout", self.timeout),
            ("resync", self.resync),
            ("trial_lease", self.lease),
        ] {
            if duration.is_zero() {
                return Err(out_of_range(option, "above zero", "0s".to_owned()));
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            out_of_range(
                "start",
                "called inside a tokio runtime",
                "no runtime".to_owned(),
            )
        })?;
        let inner = Arc::new(Inner {
            namespace: self.namespace,
            registry: self.registry,
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            adopted: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            lost_at: AtomicU64::new(0),
            lease: self.lease,
            horizon: self.resync.saturating_mul(3),
            owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            due: std::sync::Mutex::new(std::collections::HashMap::new()),
            rescheduled: tokio::sync::Notify::new(),
            warned: AtomicBool::new(false),
        });
        let (records, queued) = mpsc::channel(self.queue);
        let store = Arc::new(Queue {
            records,
            inner: Arc::clone(&inner),
        });
        self.registry.share_breakers(store, self.which)?;
        #[cfg(feature = "metrics")]
        STARTED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::clone(&inner));
        let config = ::redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let connection =
            ::redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(|error| out_of_range("url", URL, error.to_string()))?;
        let scripts = Arc::new(Scripts::new());
        runtime.spawn(send(
            Arc::clone(&inner),
            connection.clone(),
            Arc::clone(&scripts),
            queued,
            self.timeout,
        ));
        runtime.spawn(listen(
            Arc::clone(&inner),
            client,
            connection,
            scripts,
            self.timeout,
            self.resync,
        ));
        Ok(SharedThroughRedis { inner })
    }
}

#[derive(Debug)]
struct Scripts {
    failure: ::redis::Script,
    recovered: ::redis::Script,
    transition: ::redis::Script,
    read: ::redis::Script,
    lease: ::redis::Script,
    window: ::redis::Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            failure: ::redis::Script::new(FAILURE),
            recovered: ::redis::Script::new(RECOVERED),
            transition: ::redis::Script::new(TRANSITION),
            read: ::redis::Script::new(READ),
            lease: ::redis::Script::new(LEASE),
            window: ::redis::Script::new(WINDOW),
        }
    }
}

impl Inner {
    fn key(&self, breaker: &str) -> String {
        format!("{}:breaker:{breaker}", self.namespace)
    }

    /// The lease of a breaker's trials.
    fn lease_key(&self, breaker: &str) -> String {
        format!("{}:breaker:{breaker}:trial", self.namespace)
    }

    /// The replicas' reports of a window breaker's window.
    fn window_key(&self, breaker: &str) -> String {
        format!("{}:breaker:{breaker}:window", self.namespace)
    }

    fn channel(&self) -> String {
        format!("{}:breakers", self.namespace)
    }

    /// Redis answered.
    fn reached(&self) {
        if !self.connected.swap(true, Ordering::Relaxed) {
            self.publish();
        }
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!(target: "staunch", namespace = %self.namespace, "Redis answers again: the breakers share their state");
        }
    }

    /// Sets this sharing's series (feature `metrics`): at each change of connection, and
    /// when the metrics are published.
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    fn publish(&self) {
        #[cfg(feature = "metrics")]
        {
            use crate::metrics::{REDIS_CONNECTED, REDIS_RECORDS};
            let name = self.namespace.clone();
            let connected = self.connected.load(Ordering::Relaxed);
            metrics::gauge!(REDIS_CONNECTED, "name" => name.clone()).set(if connected {
                1.0
            } else {
                0.0
            });
            for (result, count) in [("sent", &self.sent), ("dropped", &self.dropped)] {
                metrics::counter!(REDIS_RECORDS, "name" => name.clone(), "result" => result)
                    .absolute(count.load(Ordering::Relaxed));
            }
        }
    }

    /// Redis did not take something in: a WARN, once per outage.
    fn lost(&self, why: &str) {
        self.lost_at.store(crate::clock::now(), Ordering::Relaxed);
        if self.connected.swap(false, Ordering::Relaxed) {
            self.publish();
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "staunch",
                namespace = %self.namespace,
                reason = why,
                "Redis is not reachable: each breaker decides alone until it is"
            );
        }
    }

    /// Takes in the fleet's `state` for `breaker`, as a script or a message told it.
    ///
    /// An open breaker stays open here until a lease of its trials says otherwise: for the
    /// time the fleet's deadline leaves, plus a lease (the time a replica that cannot reach
    /// Redis waits before trying alone), and the listener asks for the lease when the
    /// deadline passes.
    fn adopt(&self, breaker: &'static CircuitBreaker, state: &str, remaining_ms: u64) {
        let (name, local) = (breaker.name(), breaker.state());
        let shared = match state {
            "open" if local == CircuitState::ForcedOpen || self.holds(name) => return,
            "open" => SharedState::Open {
                remaining: Duration::from_millis(remaining_ms) + self.lease,
            },
            "forced_open" if local != CircuitState::ForcedOpen => SharedState::ForcedOpen,
            "closed" if local != CircuitState::Closed => SharedState::Closed,
            "forced_open" | "closed" => return self.unschedule(name),
            _ => return,
        };
        if state != "open" || local != CircuitState::Open {
            self.adopted.fetch_add(1, Ordering::Relaxed);
        }
        breaker.adopt(shared);
        if state == "open" {
            self.schedule(name, remaining_ms);
        } else {
            self.unschedule(name);
        }
    }

    /// Asks for a lease of `breaker`'s trials in `after_ms`.
    fn schedule(&self, breaker: &'static str, after_ms: u64) {
        let at = crate::clock::now().saturating_add(after_ms.saturating_mul(1_000_000));
        let mut due = self
            .due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if due.get(breaker) != Some(&HELD) {
            due.insert(breaker, at);
        }
        drop(due);
        self.rescheduled.notify_one();
    }

    fn unschedule(&self, breaker: &'static str) {
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(breaker);
    }

    /// This replica holds the lease of `breaker`'s trials, until it tells a transition.
    fn hold(&self, breaker: &'static str) {
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(breaker, HELD);
    }

    /// Whether this replica holds the lease of `breaker`'s trials.
    fn holds(&self, breaker: &str) -> bool {
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(breaker)
            == Some(&HELD)
    }

    /// What the fleet's deadline for an open `breaker` leaves, as this replica took it in
    /// from Redis (its own openings while Redis was away are not the fleet's).
    fn fleet_remaining(&self, breaker: &str) -> Option<Duration> {
        let at = *self
            .due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(breaker)?;
        (at != HELD).then(|| Duration::from_nanos(at.saturating_sub(crate::clock::now())))
    }

    /// The breaker whose lease is due first, and when (on [`crate::clock`]).
    fn next_due(&self) -> Option<(&'static str, u64)> {
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, at)| **at != HELD)
            .min_by_key(|(_, at)| **at)
            .map(|(name, at)| (*name, *at))
    }

    fn breaker(&self, name: &str) -> Option<&'static CircuitBreaker> {
        self.registry.breaker(name)
    }
}

/// Sends each record as its script, one at a time, shedding it when Redis is slow or away.
///
/// Idle, it waits for a record; once one came, it looks for more every millisecond until 100
/// ms pass without any, so that the callers of a failing dependency queue their records
/// without waking it (a wake-up crosses threads, tens of microseconds on a VM).
async fn send(
    inner: Arc<Inner>,
    mut connection: ::redis::aio::ConnectionManager,
    scripts: Arc<Scripts>,
    mut queued: mpsc::Receiver<Queued>,
    timeout: Duration,
) {
    let channel = inner.channel();
    while let Some(first) = queued.recv().await {
        send_one(&inner, &mut connection, &scripts, &channel, first, timeout).await;
        let mut quiet = 0;
        while quiet < 100 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            quiet += 1;
            while let Ok(next) = queued.try_recv() {
                send_one(&inner, &mut connection, &scripts, &channel, next, timeout).await;
                quiet = 0;
            }
        }
    }
}

async fn send_one(
    inner: &Inner,
    connection: &mut ::redis::aio::ConnectionManager,
    scripts: &Scripts,
    channel: &str,
    (name, record, at): Queued,
    timeout: Duration,
) {
    // Queued before Redis last failed, or longer ago than a command may take: the fleet
    // has moved on from what it tells (a replica's counts from an outage must not reopen
    // a breaker the fleet has closed).
    let age = crate::clock::now().saturating_sub(at);
    if at <= inner.lost_at.load(Ordering::Relaxed) || age > crate::clock::nanos(timeout) {
        inner.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let Some(breaker) = inner.breaker(name) else {
        return;
    };
    // A script counting an outcome answers CLOSED when it opened nothing: no news to a
    // replica that sent it from CLOSED, and stale if the fleet opened since.
    let news_only = !matches!(record, Record::Transition { .. });
    let invocation = match record {
        Record::Call { failed, .. } => match breaker.config().trip() {
            Trip::Consecutive { fail_max } if failed => {
                let reset = millis(breaker.config().reset());
                let mut call = scripts.failure.prepare_invoke();
                call.key(inner.key(name))
                    .key(channel)
                    .key(inner.lease_key(name))
                    .arg(fail_max)
                    .arg(reset)
                    .arg(name);
                call
            }
            Trip::Consecutive { .. } => return,
            // None once it left CLOSED: its transition follows.
            Trip::FailureRate { .. } => {
                let Some(report) = window_report(inner, scripts, channel, breaker) else {
                    return;
                };
                report
            }
        },
        Record::Recovered => {
            let mut call = scripts.recovered.prepare_invoke();
            call.key(inner.key(name));
            call
        }
        Record::Transition { to, open_for, .. } => {
            let to = match to {
                CircuitState::Open => "open",
                CircuitState::ForcedOpen => "forced_open",
                CircuitState::Closed => "closed",
                // Its trials start under the lease it holds.
                CircuitState::HalfOpen => return,
            };
            // Its trials (if it held them) are over: the script frees the lease.
            inner.unschedule(name);
            transition(
                inner,
                scripts,
                channel,
                name,
                to,
                open_for.map_or(0, millis),
            )
        }
        // Successes, and what the window and the trials count, stay each replica's.
        _ => return,
    };
    if let Some((state, remaining)) = invoke(inner, connection, &invocation, timeout).await {
        inner.reached();
        if !news_only || state != "closed" {
            inner.adopt(breaker, &state, remaining);
        }
        // Counted once its answer is in (what a test or a benchmark waits for).
        inner.sent.fetch_add(1, Ordering::Relaxed);
    } else {
        inner.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// A replica's breaker changed state to `to` (open for `open_for_ms`): the fleet's follows.
fn transition<'a>(
    inner: &Inner,
    scripts: &'a Scripts,
    channel: &str,
    name: &str,
    to: &str,
    open_for_ms: u64,
) -> ::redis::ScriptInvocation<'a> {
    let mut call = scripts.transition.prepare_invoke();
    call.key(inner.key(name))
        .key(channel)
        .key(inner.lease_key(name))
        .key(inner.window_key(name))
        .arg(to)
        .arg(open_for_ms)
        .arg(name);
    call
}

/// The report of a window breaker's window, as it is now; `None` unless it is a CLOSED window
/// breaker.
fn window_report<'a>(
    inner: &Inner,
    scripts: &'a Scripts,
    channel: &str,
    breaker: &CircuitBreaker,
) -> Option<::redis::ScriptInvocation<'a>> {
    let config = breaker.config();
    let Trip::FailureRate {
        failure_rate,
        min_calls,
        ..
    } = config.trip()
    else {
        return None;
    };
    let counts = breaker.window_counts()?;
    let name = breaker.name();
    let mut call = scripts.window.prepare_invoke();
    call.key(inner.key(name))
        .key(channel)
        .key(inner.lease_key(name))
        .key(inner.window_key(name))
        .arg(&inner.owner)
        .arg(counts.calls)
        .arg(counts.failures)
        .arg(counts.slow)
        .arg(min_calls)
        .arg(failure_rate)
        .arg(config.slow().map_or(0, |slow| slow.rate))
        .arg(millis(config.reset()))
        .arg(millis(inner.horizon))
        .arg(name);
    Some(call)
}

/// Runs a script within `timeout`: its `{state, remaining_ms}`, or `None` (Redis noted as lost)
/// when it fails or takes longer.
async fn invoke(
    inner: &Inner,
    connection: &mut ::redis::aio::ConnectionManager,
    invocation: &::redis::ScriptInvocation<'_>,
    timeout: Duration,
) -> Option<(String, u64)> {
    match tokio::time::timeout(timeout, invocation.invoke_async(connection)).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(error)) => {
            inner.lost(&error.to_string());
            None
        }
        Err(_) => {
            inner.lost("a command took longer than its timeout");
            None
        }
    }
}

/// Takes in every change the fleet publishes, and reads the fleet's state after each
/// (re)subscription and every `resync`.
async fn listen(
    inner: Arc<Inner>,
    client: ::redis::Client,
    mut connection: ::redis::aio::ConnectionManager,
    scripts: Arc<Scripts>,
    timeout: Duration,
    resync: Duration,
) {
    let channel = inner.channel();
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::time::timeout(timeout, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, ::redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => Some(pubsub),
            Ok(Err(error)) => {
                inner.lost(&error.to_string());
                None
            }
            Err(_) => {
                inner.lost("subscribing took longer than the command timeout");
                None
            }
        };
        // Connected once the fleet's state is in (`catch_up` says so): records are sent from
        // then on.
        let Some(mut pubsub) = pubsub else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        };
        if !catch_up(&inner, &mut connection, &scripts, &channel, timeout, false).await {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        }
        backoff = Duration::from_millis(100);
        let mut ticks = tokio::time::interval(resync);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut messages = std::pin::pin!(pubsub.on_message());
        loop {
            let tick = std::pin::pin!(ticks.tick());
            let lease = std::pin::pin!(next_lease(&inner));
            match futures_util::future::select(
                messages.next(),
                futures_util::future::select(tick, lease),
            )
            .await
            {
                Either::Left((Some(message), _)) => {
                    if let Ok(payload) = message.get_payload::<String>() {
                        take_in(&inner, &payload);
                    }
                }
                Either::Left((None, _)) => break,
                Either::Right((Either::Left(_), _)) => {
                    catch_up(&inner, &mut connection, &scripts, &channel, timeout, true).await;
                }
                Either::Right((Either::Right((breaker, _)), _)) => {
                    ask_lease(&inner, &mut connection, &scripts, breaker, timeout).await;
                }
            }
        }
        inner.lost("the subscription to the breakers' channel ended");
    }
}

/// Waits until the first open breaker's deadline passes (or the deadlines change), and names
/// it.
async fn next_lease(inner: &Inner) -> &'static str {
    loop {
        let changed = inner.rescheduled.notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        let Some((breaker, at)) = inner.next_due() else {
            changed.await;
            continue;
        };
        let wait = Duration::from_nanos(at.saturating_sub(crate::clock::now()));
        if wait.is_zero() {
            return breaker;
        }
        let sleep = std::pin::pin!(tokio::time::sleep(wait));
        if let Either::Left(_) = futures_util::future::select(sleep, changed).await {
            return breaker;
        }
    }
}

/// Asks Redis for the lease of `breaker`'s trials: this replica tries HALF_OPEN when it gets
/// it, and asks again when the holder's lease would expire otherwise.
async fn ask_lease(
    inner: &Inner,
    connection: &mut ::redis::aio::ConnectionManager,
    scripts: &Scripts,
    name: &'static str,
    timeout: Duration,
) {
    let Some(breaker) = inner.breaker(name) else {
        return inner.unschedule(name);
    };
    let mut lease = scripts.lease.prepare_invoke();
    lease
        .key(inner.key(name))
        .key(inner.lease_key(name))
        .arg(millis(inner.lease))
        .arg(&inner.owner);
    let mut answer = invoke(inner, connection, &lease, timeout).await;
    if answer.as_ref().is_some_and(|(state, _)| state == "absent") {
        answer = absent(
            inner,
            connection,
            scripts,
            &inner.channel(),
            breaker,
            timeout,
        )
        .await;
    }
    match answer {
        Some((state, _)) if state == "trial" => {
            inner.hold(name);
            // Its next call is a trial.
            breaker.adopt(SharedState::Open {
                remaining: Duration::ZERO,
            });
        }
        Some((state, remaining)) => inner.adopt(breaker, &state, remaining),
        None => inner.schedule(name, millis(timeout)),
    }
}

/// `"{state} {remaining_ms} {name}"`, as the scripts publish it.
fn take_in(inner: &Inner, payload: &str) {
    let mut parts = payload.splitn(3, ' ');
    let (Some(state), Some(remaining), Some(name)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(remaining), Some(breaker)) = (remaining.parse::<u64>(), inner.breaker(name)) else {
        return;
    };
    if breaker.is_shared() {
        inner.adopt(breaker, state, remaining);
    }
}

/// Reads the fleet's state of every shared breaker, and writes back the state of those Redis
/// lost; whether Redis answered each. With `report` (the periodic resync), a CLOSED window
/// breaker reports its window instead of reading: not on (re)connecting, when its counts may
/// be from an outage.
async fn catch_up(
    inner: &Inner,
    connection: &mut ::redis::aio::ConnectionManager,
    scripts: &Scripts,
    channel: &str,
    timeout: Duration,
    report: bool,
) -> bool {
    for breaker in inner.registry.shared_breakers() {
        let reported = report
            .then(|| window_report(inner, scripts, channel, breaker))
            .flatten();
        let call = reported.unwrap_or_else(|| {
            let mut read = scripts.read.prepare_invoke();
            read.key(inner.key(breaker.name()));
            read
        });
        let Some((mut state, mut remaining)) = invoke(inner, connection, &call, timeout).await
        else {
            return false;
        };
        if state == "absent" {
            let Some(answer) = absent(inner, connection, scripts, channel, breaker, timeout).await
            else {
                return false;
            };
            (state, remaining) = answer;
        }
        if !report && state == "closed" && breaker.state() == CircuitState::Closed {
            // (Re)connected: what the breaker counted while Redis was away is not the fleet's.
            breaker.adopt(SharedState::Closed);
        }
        inner.adopt(breaker, &state, remaining);
    }
    // Redis answered every read (after a pause, this is what reconnects the records).
    inner.reached();
    true
}

/// Redis holds no state for `breaker`: it never had one, or lost it (flushed, or restarted
/// without its data). A breaker open by the fleet's decision is written back, for what the
/// fleet's deadline leaves, and one forced open stays so; otherwise the fleet's breaker is
/// CLOSED. The answer to take in, or `None` when Redis did not answer.
async fn absent(
    inner: &Inner,
    connection: &mut ::redis::aio::ConnectionManager,
    scripts: &Scripts,
    channel: &str,
    breaker: &CircuitBreaker,
    timeout: Duration,
) -> Option<(String, u64)> {
    let name = breaker.name();
    let call = if breaker.state() == CircuitState::ForcedOpen {
        transition(inner, scripts, channel, name, "forced_open", 0)
    } else if let Some(remaining) = inner.fleet_remaining(name) {
        transition(inner, scripts, channel, name, "open", millis(remaining))
    } else {
        return Some(("closed".to_owned(), 0));
    };
    invoke(inner, connection, &call, timeout).await
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
