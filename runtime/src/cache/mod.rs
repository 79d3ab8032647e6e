//! Caching with stale-on-error: answers kept for `ttl`, served up to `stale` old when the call
//! that would refresh them fails (the chapter's stale-cache fallback), bounded by `capacity`.
//!
//! Eviction is quick_cache's (S3-FIFO: scan-resistant, a few atomics per hit). A hit borrows
//! the arguments to look the key up and clones the answer; the key is cloned into the cache
//! only on a miss. Concurrent misses of one key make one call: the first caller leads it and
//! the others wait for its answer.

use std::any::Any;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::clock;
use crate::config::ConfigError;
use crate::observe::{self, Event, Hub, InstanceKind, Tally};
use crate::outcome::Failure;
use crate::sync::{AtomicU64, Ordering};
use std::sync::atomic::AtomicBool;

mod answer;
mod config;
mod key;
mod store;

pub use self::answer::{Cached, Freshness, freshness};
pub use self::config::{CacheBuilder, CacheConfig};
pub use self::key::{
    Args, Checked, Key, KeyPart, Lookup, NoKey, ViaKeyPart, ViaNoKey, Whole, key_part, made_key,
};

use self::store::{Entries, Entry, Landing, Role, Store};

/// Answers of earlier successes, served for `ttl`; after that the call is made again, and
/// when it fails an answer up to `stale` old is served instead of the error. `Err` is never
/// cached, and concurrent misses of one key make one call.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use staunch::cache::{Cache, Freshness};
///
/// let profiles = Cache::builder(Duration::from_secs(30))
///     .stale(Duration::from_secs(600))
///     .name("docs-profiles")
///     .build()
///     .unwrap();
/// let live = profiles.call(7_u64, || async { Ok::<_, std::io::Error>("Ada") }).await.unwrap();
/// assert_eq!((*live, live.freshness()), ("Ada", Freshness::Live));
///
/// // A minute later the answer is out of date, and the dependency is down: the stale answer.
/// tokio::time::advance(Duration::from_secs(60)).await;
/// let down = std::io::Error::other("connection refused");
/// let stale = profiles.call(7_u64, || async { Err::<&str, _>(down) }).await.unwrap();
/// assert_eq!((*stale, stale.freshness()), ("Ada", Freshness::Stale { age: Duration::from_secs(60) }));
/// # }
/// ```
pub struct Cache {
    name: &'static str,
    /// The settings in force, in nanoseconds, read by each call.
    ttl: AtomicU64,
    stale: AtomicU64,
    hits: Tally,
    misses: AtomicU64,
    stale_served: AtomicU64,
    /// The settings in force; its lock serializes changes.
    in_force: Mutex<CacheConfig>,
    /// The settings it was created with: other call sites naming it are checked against them.
    created: CacheConfig,
    /// The answers, typed by the first call's key and answer types.
    store: OnceLock<Typed>,
    /// A call of other key or answer types than the first was reported (once).
    mistyped: AtomicBool,
    hub: Hub,
}

/// The store, as its callers (typed) and the handle (untyped) see it.
struct Typed {
    typed: Arc<dyn Any + Send + Sync>,
    entries: Arc<dyn Entries>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("config", &self.config())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

/// Counters of a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheMetrics {
    /// Answers in the cache.
    pub entries: u64,
    /// Calls answered without a call of their own: from the cache, or by a concurrent call for
    /// the same key (`None` unless the `metrics` or `axum` feature counts them).
    pub hits: Option<u64>,
    /// Calls answered by a call of their own (or failing with its error): no fresh answer was
    /// cached, and no stale one served instead.
    pub misses: u64,
    /// Calls answered stale because their call failed. Hits, misses and stale answers add up
    /// to the calls.
    pub stale: u64,
}

/// What a cache can keep: an answer it clones out for each hit, shared between threads.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: `#[cache]` hands out a clone of the answer it keeps, so the function's `Ok` type must be `Clone + Send + Sync + 'static`",
    label = "the answer of this function is cached",
    note = "derive `Clone` for it, or answer an `Arc` of it (a hit then clones the `Arc`)"
)]
pub trait Answer: Clone + Send + Sync + 'static {}

#[diagnostic::do_not_recommend]
impl<V: Clone + Send + Sync + 'static> Answer for V {}

/// What a lookup found.
#[doc(hidden)]
pub enum Looked<'a, K, V> {
    /// A fresh answer.
    Hit(Cached<V>),
    /// None: the call is to be made, through [`Miss::run`].
    Miss(Miss<'a, K, V>),
}

/// A lookup that found no fresh answer.
#[doc(hidden)]
pub struct Miss<'a, K, V> {
    cache: &'a Cache,
    /// The store and the owned key; `None` when the store holds other types (reported).
    target: Option<(&'a Store<K, V>, K)>,
    /// An answer too old to serve fresh, young enough to serve if the call fails.
    stale: Option<Entry<V>>,
}

impl Cache {
    /// A cache with validated settings.
    #[must_use]
    pub fn with_config(config: CacheConfig) -> Self {
        Self {
            name: config.name,
            ttl: AtomicU64::new(clock::nanos(config.ttl)),
            stale: AtomicU64::new(clock::nanos(config.stale)),
            hits: observe::cache_hits(config.name),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            in_force: Mutex::new(config),
            created: config,
            store: OnceLock::new(),
            mistyped: AtomicBool::new(false),
            hub: Hub::new(),
        }
    }

    /// The cache's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> CacheConfig {
        *self.in_force.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counters.
    #[must_use]
    pub fn metrics(&self) -> CacheMetrics {
        CacheMetrics {
            entries: self.len() as u64,
            hits: self.hits.total(),
            misses: self.misses.load(Ordering::Relaxed),
            stale: self.stale_served.load(Ordering::Relaxed),
        }
    }

    /// Answers in the cache.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.get().map_or(0, |store| store.entries.len())
    }

    /// Whether the cache holds no answer.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every answer.
    pub fn clear(&self) {
        if let Some(store) = self.store.get() {
            store.entries.clear();
        }
    }

    /// Forgets the answer for `key`, and says whether there was one. The key of a function
    /// with one argument is that argument, owned (a `String` for a `&str`); of several, the
    /// tuple of them; of a `key = path` function, what it returns.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use staunch::cache::Cache;
    ///
    /// let cache = Cache::builder(Duration::from_secs(30)).name("docs-invalidated").build().unwrap();
    /// cache.call("ada".to_owned(), || async { Ok::<_, std::io::Error>(36) }).await.unwrap();
    /// assert!(cache.invalidate(&"ada".to_owned()));
    /// assert!(cache.is_empty());
    /// # }
    /// ```
    pub fn invalidate<K: Any>(&self, key: &K) -> bool {
        self.store
            .get()
            .is_some_and(|store| store.entries.invalidate(key))
    }

    /// A receiver of every [`Event`] of this cache from now on: each stale answer it serves, a
    /// change of its settings.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.hub.subscribe()
    }

    /// Puts `config` in force from the next lookup on, and returns the settings it replaced.
    /// A smaller `capacity` evicts at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staunch::cache::Cache;
    ///
    /// let cache = Cache::builder(Duration::from_secs(30)).name("docs-recached").build().unwrap();
    /// let longer = Cache::builder(Duration::from_secs(60)).name("docs-recached").config().unwrap();
    /// assert_eq!(cache.reconfigure(longer).unwrap().ttl(), Duration::from_secs(30));
    /// assert_eq!(cache.config().ttl(), Duration::from_secs(60));
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Conflict`] for another name; nothing changes.
    pub fn reconfigure(&self, config: CacheConfig) -> Result<CacheConfig, ConfigError> {
        let mut in_force = self.in_force.lock().unwrap_or_else(PoisonError::into_inner);
        let old = *in_force;
        crate::config::same_name(self.name, config.name)?;
        self.ttl.store(clock::nanos(config.ttl), Ordering::Relaxed);
        self.stale
            .store(clock::nanos(config.stale), Ordering::Relaxed);
        if config.capacity != old.capacity {
            if let Some(store) = self.store.get() {
                store.entries.set_capacity(config.capacity);
            }
        }
        *in_force = config;
        drop(in_force);
        if config != old {
            observe::settings_changed(&self.hub, InstanceKind::Cache, self.name, &old, &config);
        }
        Ok(old)
    }

    pub(crate) fn fits(&self, config: &CacheConfig) -> Result<(), ConfigError> {
        crate::config::same_name(self.name, config.name)
    }

    pub(crate) fn created_as(mut self, created: CacheConfig) -> Self {
        self.created = created;
        self
    }

    pub(crate) fn created_config(&self) -> CacheConfig {
        self.created
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The answer for `key`: cached, or made by `f` (and cached when it is `Ok`), or a stale
    /// one when `f` fails. Its [`Freshness`] says which.
    ///
    /// # Errors
    /// `f`'s error, when no answer young enough to serve instead is cached.
    pub async fn call<K, V, E, F, Fut>(&self, key: K, f: F) -> Result<Cached<V>, E>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let miss = match self.lookup(&Whole(&key)) {
            Looked::Hit(hit) => return Ok(hit),
            Looked::Miss(miss) => miss,
        };
        let made = async {
            f().await
                .map_err(Failure::<E, std::convert::Infallible>::Error)
        };
        match miss.run(made, |_| true).await {
            Ok(answer) => Ok(answer),
            Err(Failure::Error(error)) => Err(error),
            Err(Failure::Rejected(never)) => match never {},
        }
    }

    /// Looks `key` up: a fresh answer, or what a call needs to make and cache one.
    #[doc(hidden)]
    #[inline]
    pub fn lookup<Q: Lookup, V: Answer>(&self, key: &Q) -> Looked<'_, Q::Key, V> {
        let Some(store) = self.store::<Q::Key, V>() else {
            answer::forget();
            return Looked::Miss(Miss {
                cache: self,
                target: None,
                stale: None,
            });
        };
        let mut stale = None;
        if let Some(entry) = store.get(key) {
            match self.fresh(entry) {
                Ok(hit) => return Looked::Hit(hit),
                Err(entry) => stale = Some(entry),
            }
        }
        // Until this call answers, it has no answer: an error, or the call dropped, leaves none.
        answer::forget();
        Looked::Miss(Miss {
            cache: self,
            target: Some((store, key.to_key())),
            stale,
        })
    }

    /// `entry` as a hit, if it is younger than `ttl`.
    #[inline]
    fn fresh<V>(&self, entry: Entry<V>) -> Result<Cached<V>, Entry<V>> {
        let age = clock::now().saturating_sub(entry.at);
        if age >= self.ttl.load(Ordering::Relaxed) {
            return Err(entry);
        }
        self.hits.add();
        Ok(Cached::answer(
            entry.value,
            Freshness::Fresh {
                age: Duration::from_nanos(age),
            },
        ))
    }

    /// The store of key type `K` and answer type `V`, made by the first call; `None` (and an
    /// ERROR, once) when it holds other types.
    #[inline]
    fn store<K, V>(&self) -> Option<&Store<K, V>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let typed = match self.store.get() {
            Some(typed) => typed,
            None => self.first_store::<K, V>(),
        };
        let store = typed.typed.downcast_ref::<Store<K, V>>();
        if store.is_none() {
            self.mistyped();
        }
        store
    }

    /// Makes the store under the settings' lock, so that a change of `capacity` is either
    /// read here or applied to the store made.
    #[cold]
    fn first_store<K, V>(&self) -> &Typed
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let in_force = self.in_force.lock().unwrap_or_else(PoisonError::into_inner);
        self.store.get_or_init(|| {
            let store = Arc::new(Store::<K, V>::new(in_force.capacity));
            Typed {
                typed: Arc::clone(&store) as Arc<dyn Any + Send + Sync>,
                entries: store,
            }
        })
    }

    #[cold]
    fn mistyped(&self) {
        if !self.mistyped.swap(true, Ordering::Relaxed) {
            tracing::error!(
                target: "staunch",
                cache = self.name,
                "cache used with other key or answer types than its first caller's; those calls are not cached: give each function a cache of its own name"
            );
        }
    }
}

impl<K, V> Miss<'_, K, V> {
    /// Makes the call with `inner`, unless a concurrent call for the key answers first; caches
    /// a success; serves the stale answer when the call fails with an error `is_failure`
    /// accepts (or a rejection).
    ///
    /// # Errors
    /// The call's error, when no stale answer is served instead.
    pub async fn run<E, R, Fut>(
        self,
        inner: Fut,
        is_failure: impl Fn(&E) -> bool,
    ) -> Result<Cached<V>, Failure<E, R>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Answer,
        Fut: Future<Output = Result<V, Failure<E, R>>>,
    {
        let cache = self.cache;
        let Some((store, key)) = self.target else {
            cache.missed();
            return inner.await.map(Cached::live);
        };
        // Wait for a concurrent call for the key, unless this one leads.
        let lead = loop {
            match store.join(&key) {
                Role::Lead(lead) => {
                    // A call that answered between this one's lookup and its lead.
                    if let Some(Ok(hit)) = store.get(&Whole(&key)).map(|e| cache.fresh(e)) {
                        lead.land(Landing::Answered(hit.value().clone()));
                        return Ok(hit);
                    }
                    break Some(lead);
                }
                Role::Follow(flight) => match flight.landing().await {
                    Landing::Answered(value) => {
                        cache.hits.add();
                        return Ok(Cached::live(value));
                    }
                    Landing::Failed { stale } => {
                        if let Some(answer) = cache.serve_stale(self.stale.as_ref(), stale) {
                            return Ok(answer);
                        }
                        // Its own call, beside the other waiters': none waits for another's
                        // failure in turn.
                        break None;
                    }
                    Landing::Abandoned => {}
                },
            }
        };
        match inner.await {
            Ok(value) => {
                store.insert(
                    key,
                    Entry {
                        value: value.clone(),
                        at: clock::now(),
                    },
                );
                if let Some(lead) = lead {
                    lead.land(Landing::Answered(value.clone()));
                }
                cache.missed();
                Ok(Cached::live(value))
            }
            Err(failure) => {
                let stale = match &failure {
                    Failure::Error(error) => is_failure(error),
                    Failure::Rejected(_) => true,
                };
                if let Some(lead) = lead {
                    lead.land(Landing::Failed { stale });
                }
                // No freshness is noted for an error: the lookup cleared it.
                cache.serve_stale(self.stale.as_ref(), stale).map_or_else(
                    || {
                        cache.missed();
                        Err(failure)
                    },
                    Ok,
                )
            }
        }
    }
}

impl Cache {
    /// A call answered by its own call (or failing): a miss.
    fn missed(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::cache_missed(self.hub.keys(self.name));
    }

    /// `entry` as a stale answer, if the failure `allows` one and it is young enough.
    fn serve_stale<V: Clone>(&self, entry: Option<&Entry<V>>, allows: bool) -> Option<Cached<V>> {
        let entry = entry.filter(|_| allows)?;
        let age = clock::now().saturating_sub(entry.at);
        if age >= self.stale.load(Ordering::Relaxed) {
            return None;
        }
        self.stale_served.fetch_add(1, Ordering::Relaxed);
        let age = Duration::from_nanos(age);
        observe::served_stale(&self.hub, self.name, age);
        Some(Cached::answer(
            entry.value.clone(),
            Freshness::Stale { age },
        ))
    }
}
