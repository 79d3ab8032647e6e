//! The answers of one cache, typed: a bounded map from the eviction crate, and the calls in
//! flight, so that concurrent misses of one key make one call.

use std::any::Any;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::key::Lookup;

/// An answer and when it was cached (on the clock of [`crate::clock`]).
#[derive(Clone)]
pub(super) struct Entry<V> {
    pub(super) value: V,
    pub(super) at: u64,
}

pub(super) struct Store<K, V> {
    entries: quick_cache::sync::Cache<K, Entry<V>>,
    flights: Mutex<HashMap<K, Arc<Flight<V>>>>,
}

/// What the untyped side of a cache (its handle, its settings) does to the answers.
pub(super) trait Entries: Send + Sync {
    fn len(&self) -> usize;
    fn clear(&self);
    /// Forgets the answer for `key`, if `key` is of this cache's key type.
    fn invalidate(&self, key: &dyn Any) -> bool;
    fn set_capacity(&self, capacity: u64);
}

impl<K, V> Store<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new(capacity: u64) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(usize::try_from(capacity).unwrap_or(usize::MAX)),
            flights: Mutex::new(HashMap::new()),
        }
    }

    #[inline]
    pub(super) fn get<Q: Lookup<Key = K>>(&self, key: &Q) -> Option<Entry<V>> {
        self.entries.get(key)
    }

    pub(super) fn insert(&self, key: K, entry: Entry<V>) {
        self.entries.insert(key, entry);
    }

    /// Joins the call in flight for `key`, or leads one.
    pub(super) fn join(&self, key: &K) -> Role<'_, K, V> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = flights.get(key) {
            return Role::Follow(Arc::clone(flight));
        }
        let flight = Arc::new(Flight {
            landing: Mutex::new(None),
            landed: Notify::new(),
        });
        flights.insert(key.clone(), Arc::clone(&flight));
        Role::Lead(Lead {
            store: self,
            key: key.clone(),
            flight,
            landed: false,
        })
    }
}

impl<K, V> Entries for Store<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn clear(&self) {
        self.entries.clear();
    }

    fn invalidate(&self, key: &dyn Any) -> bool {
        key.downcast_ref::<K>()
            .is_some_and(|key| self.entries.remove(key).is_some())
    }

    fn set_capacity(&self, capacity: u64) {
        self.entries.set_capacity(capacity);
    }
}

/// How a call in flight ended, for the callers waiting on it.
#[derive(Clone)]
pub(super) enum Landing<V> {
    Answered(V),
    /// It failed: each waiter serves its stale answer if `stale` (the error was a failure),
    /// or makes its own call.
    Failed {
        stale: bool,
    },
    /// It was cancelled: the waiters look again (one of them leads the next call).
    Abandoned,
}

pub(super) struct Flight<V> {
    landing: Mutex<Option<Landing<V>>>,
    landed: Notify,
}

impl<V: Clone> Flight<V> {
    pub(super) async fn landing(&self) -> Landing<V> {
        loop {
            let landed = self.landed.notified();
            let mut landed = std::pin::pin!(landed);
            // Registered before the check: a landing after it wakes this waiter.
            landed.as_mut().enable();
            if let Some(landing) = self
                .landing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
            {
                return landing;
            }
            landed.await;
        }
    }
}

pub(super) enum Role<'a, K: Hash + Eq, V> {
    Lead(Lead<'a, K, V>),
    Follow(Arc<Flight<V>>),
}

/// The caller making the call for a key: tells the waiters how it ended, `Abandoned` if it
/// is dropped first.
pub(super) struct Lead<'a, K: Hash + Eq, V> {
    store: &'a Store<K, V>,
    key: K,
    flight: Arc<Flight<V>>,
    landed: bool,
}

impl<K: Hash + Eq, V> Lead<'_, K, V> {
    pub(super) fn land(mut self, landing: Landing<V>) {
        self.landed = true;
        self.finish(landing);
    }

    fn finish(&self, landing: Landing<V>) {
        {
            let mut flights = self
                .store
                .flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if flights
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                flights.remove(&self.key);
            }
        }
        *self
            .flight
            .landing
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(landing);
        self.flight.landed.notify_waiters();
    }
}

impl<K: Hash + Eq, V> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        if !self.landed {
            self.finish(Landing::Abandoned);
        }
    }
}
