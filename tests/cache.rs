//! `#[cache]` and `Cache` on paused time: hits, misses and expiry; stale answers when the call
//! fails, up to `stale`; `Err` never cached; one call for concurrent misses of a key; eviction
//! at `capacity`; the freshness a caller sees; keys, names, settings and events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use staunch::cache::{Cache, Cached, Freshness};
use staunch::settings::{CacheSettings, Settings};
use staunch::{Classify, Event, Rejected};

mod support;
use support::{Error, ms, secs};

static PRICE_CALLS: AtomicU32 = AtomicU32::new(0);

#[staunch::cache(ttl = "30s", stale = "10m")]
async fn price(sku: u32, up: bool) -> Result<u32, Error> {
    PRICE_CALLS.fetch_add(1, Ordering::SeqCst);
    if up { Ok(sku * 100) } else { Err(Error::Down) }
}

#[tokio::test(start_paused = true)]
async fn answers_are_served_for_ttl_then_made_again() {
    let calls = || PRICE_CALLS.load(Ordering::SeqCst);
    assert_eq!(price(1, true).await, Ok(100));
    assert_eq!(staunch::cache::freshness(), Some(Freshness::Live));
    assert_eq!(calls(), 1);
    tokio::time::advance(secs(29)).await;
    assert_eq!(price(1, true).await, Ok(100));
    assert_eq!(
        staunch::cache::freshness(),
        Some(Freshness::Fresh { age: secs(29) })
    );
    assert_eq!(calls(), 1, "a hit makes no call");
    // The key is every argument: another makes its own call.
    assert_eq!(price(2, true).await, Ok(200));
    assert_eq!(calls(), 2);
    tokio::time::advance(secs(1)).await;
    assert_eq!(price(1, true).await, Ok(100));
    assert_eq!(staunch::cache::freshness(), Some(Freshness::Live));
    assert_eq!(calls(), 3, "an answer `ttl` old is made again");
}

static PROFILE_CALLS: AtomicU32 = AtomicU32::new(0);
static PROFILES_UP: AtomicBool = AtomicBool::new(true);

#[staunch::cache(ttl = "30s", stale = "10m", name = "cache-profiles")]
async fn profile(user: &str) -> Result<Cached<String>, Error> {
    PROFILE_CALLS.fetch_add(1, Ordering::SeqCst);
    if PROFILES_UP.load(Ordering::SeqCst) {
        Ok(Cached::new(format!("profile of {user}")))
    } else {
        Err(Error::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_call_is_answered_stale_up_to_stale_then_with_its_error() {
    let live = profile("ada").await.unwrap();
    assert_eq!(live.freshness(), Freshness::Live);
    let mut events = staunch::cache("cache-profiles").unwrap().subscribe();
    tokio::time::advance(secs(60)).await;
    PROFILES_UP.store(false, Ordering::SeqCst);
    let stale = profile("ada").await.unwrap();
    assert_eq!(*stale, "profile of ada");
    assert_eq!(stale.freshness(), Freshness::Stale { age: secs(60) });
    assert!(stale.freshness().is_stale() && stale.freshness().is_cached());
    assert_eq!(staunch::cache::freshness(), Some(stale.freshness()));
    match events.try_recv() {
        Ok(Event::ServedStale { name, age }) => {
            assert_eq!((name, age), ("cache-profiles", secs(60)));
        }
        other => panic!("expected a stale answer's event, got {other:?}"),
    }
    // A stale answer is not a fresh one: the next call tries again.
    let before = PROFILE_CALLS.load(Ordering::SeqCst);
    assert!(profile("ada").await.unwrap().freshness().is_stale());
    assert_eq!(PROFILE_CALLS.load(Ordering::SeqCst), before + 1);
    // Ten minutes after it was cached, the answer is too old to serve: the error.
    tokio::time::advance(secs(600 - 60)).await;
    assert_eq!(profile("ada").await, Err(Error::Down));
    assert_eq!(staunch::cache::freshness(), None);
    let metrics = staunch::cache("cache-profiles").unwrap().metrics();
    assert_eq!((metrics.stale, metrics.entries), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn an_error_is_never_cached() {
    let cache = Cache::builder(secs(30)).build().unwrap();
    let calls = &AtomicU32::new(0);
    let call = |up: bool| {
        cache.call(7_u8, move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if up { Ok("seven") } else { Err(Error::Down) }
        })
    };
    assert_eq!(call(false).await, Err(Error::Down));
    assert_eq!(call(false).await, Err(Error::Down));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "each failure called again");
    assert!(cache.is_empty());
    assert_eq!(call(true).await.map(Cached::into_inner), Ok("seven"));
    assert_eq!(call(false).await.map(Cached::into_inner), Ok("seven"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(cache.metrics().misses, 3);
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_of_a_key_make_one_call() {
    let cache = Arc::new(Cache::builder(secs(30)).build().unwrap());
    let calls = Arc::new(AtomicU32::new(0));
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let (cache, calls) = (Arc::clone(&cache), Arc::clone(&calls));
            tokio::spawn(async move {
                cache
                    .call("key", || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(ms(100)).await;
                        Ok::<_, Error>(42)
                    })
                    .await
            })
        })
        .collect();
    for caller in callers {
        let answer = caller.await.unwrap().unwrap();
        assert_eq!((*answer, answer.freshness()), (42, Freshness::Live));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.metrics().misses, 1);
    // Another key is another call.
    let other = cache.call("other", || async { Ok::<_, Error>(1) }).await;
    assert_eq!(other.map(Cached::into_inner), Ok(1));
}

#[tokio::test(start_paused = true)]
async fn waiters_on_a_failed_call_serve_their_stale_answer_or_call_themselves() {
    let cache = Arc::new(Cache::builder(secs(1)).stale(secs(60)).build().unwrap());
    let calls = Arc::new(AtomicU32::new(0));
    let failing = |cache: Arc<Cache>, calls: Arc<AtomicU32>, key: &'static str| {
        tokio::spawn(async move {
            cache
                .call(key, || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(ms(100)).await;
                    Err::<i32, _>(Error::Down)
                })
                .await
        })
    };
    cache
        .call("cached", || async { Ok::<_, Error>(5) })
        .await
        .unwrap();
    tokio::time::advance(secs(2)).await;
    let stale: Vec<_> = (0..5)
        .map(|_| failing(Arc::clone(&cache), Arc::clone(&calls), "cached"))
        .collect();
    for caller in stale {
        let answer = caller.await.unwrap().unwrap();
        assert_eq!((*answer, answer.freshness().is_stale()), (5, true));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one failed call for all five"
    );
    // Without a stale answer, each waiter makes its own call rather than waiting in line.
    calls.store(0, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let uncached: Vec<_> = (0..3)
        .map(|_| failing(Arc::clone(&cache), Arc::clone(&calls), "never"))
        .collect();
    for caller in uncached {
        assert_eq!(caller.await.unwrap(), Err(Error::Down));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        started.elapsed(),
        ms(200),
        "the leader's call, then the others side by side"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_hands_the_key_to_a_waiter() {
    let cache = Arc::new(Cache::builder(secs(30)).build().unwrap());
    let slow = {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move {
            cache
                .call(1, || async {
                    tokio::time::sleep(secs(60)).await;
                    Ok::<_, Error>("slow")
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    let waiter = {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move {
            cache
                .call(1, || async {
                    tokio::time::sleep(ms(10)).await;
                    Ok::<_, Error>("waiter")
                })
                .await
        })
    };
    tokio::time::sleep(ms(5)).await;
    slow.abort();
    let answer = waiter.await.unwrap().unwrap();
    assert_eq!(*answer, "waiter", "the waiter led the next call");
}

#[tokio::test(start_paused = true)]
async fn capacity_bounds_the_answers_kept() {
    let cache = Cache::builder(secs(30)).capacity(8).build().unwrap();
    let calls = AtomicU32::new(0);
    for key in 0..100_u32 {
        cache
            .call(key, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(key)
            })
            .await
            .unwrap();
    }
    assert!(cache.len() <= 8, "{} answers kept", cache.len());
    assert!(!cache.is_empty());
    let again = cache
        .call(0_u32, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(0)
        })
        .await
        .unwrap();
    assert!(again.freshness().is_live(), "the first answer was evicted");
    assert_eq!(calls.load(Ordering::SeqCst), 101);
}

/// A business error: not the dependency's failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Lookup {
    #[error("no such user")]
    NotFound,
    #[error("database down")]
    Down,
}

impl Classify for Lookup {
    fn is_failure(&self) -> bool {
        *self == Lookup::Down
    }
}

static FOUND: AtomicU32 = AtomicU32::new(0);

#[staunch::cache(ttl = "1s", stale = "1h")]
async fn user(_id: u64) -> Result<&'static str, Lookup> {
    match FOUND.load(Ordering::SeqCst) {
        0 => Ok("ada"),
        1 => Err(Lookup::NotFound),
        _ => Err(Lookup::Down),
    }
}

#[tokio::test(start_paused = true)]
async fn only_failures_are_answered_stale() {
    assert_eq!(user(1).await, Ok("ada"));
    tokio::time::advance(secs(2)).await;
    FOUND.store(2, Ordering::SeqCst);
    assert_eq!(user(1).await, Ok("ada"), "the database is down: stale");
    FOUND.store(1, Ordering::SeqCst);
    assert_eq!(
        user(1).await,
        Err(Lookup::NotFound),
        "the user is gone: the answer, not a stale profile"
    );
}

static GUARDED_CALLS: AtomicU32 = AtomicU32::new(0);
static GUARDED_UP: AtomicBool = AtomicBool::new(true);

#[staunch::cache(ttl = "1s", stale = "1h")]
#[staunch::circuit_breaker(fail_max = 1, reset = "1m", name = "cache-over-breaker")]
async fn guarded() -> Result<u32, Error> {
    GUARDED_CALLS.fetch_add(1, Ordering::SeqCst);
    if GUARDED_UP.load(Ordering::SeqCst) {
        Ok(1)
    } else {
        Err(Error::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_inside_is_answered_stale() {
    assert_eq!(guarded().await, Ok(1));
    tokio::time::advance(secs(2)).await;
    GUARDED_UP.store(false, Ordering::SeqCst);
    assert_eq!(guarded().await, Ok(1), "failed, served stale");
    let breaker = staunch::breaker("cache-over-breaker").unwrap();
    assert_eq!(breaker.state(), staunch::CircuitState::Open);
    let calls = GUARDED_CALLS.load(Ordering::SeqCst);
    assert_eq!(
        guarded().await,
        Ok(1),
        "refused by the breaker, served stale"
    );
    assert_eq!(
        GUARDED_CALLS.load(Ordering::SeqCst),
        calls,
        "the breaker refused it"
    );
    assert!(staunch::cache::freshness().is_some_and(Freshness::is_stale));
}

struct Directory {
    region: &'static str,
    calls: AtomicU32,
}

impl Directory {
    fn key(&self, id: &u32) -> (&'static str, u32) {
        (self.region, *id)
    }

    /// Shared by every `Directory`: the receiver is not part of the key.
    #[staunch::cache(ttl = "1m")]
    async fn shared(&self, id: u32) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}:{id}", self.region))
    }

    #[staunch::cache(ttl = "1m", key = Self::key)]
    async fn regional(&self, id: u32) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}:{id}", self.region))
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_cache_is_shared_by_the_instances_unless_key_says_otherwise() {
    let eu = Directory {
        region: "eu",
        calls: AtomicU32::new(0),
    };
    let us = Directory {
        region: "us",
        calls: AtomicU32::new(0),
    };
    assert_eq!(eu.shared(1).await.unwrap(), "eu:1");
    assert_eq!(us.shared(1).await.unwrap(), "eu:1", "one cache for both");
    assert_eq!(us.calls.load(Ordering::SeqCst), 0);
    assert_eq!(eu.regional(1).await.unwrap(), "eu:1");
    assert_eq!(us.regional(1).await.unwrap(), "us:1", "keyed by region too");
    assert_eq!(eu.regional(1).await.unwrap(), "eu:1");
    assert_eq!(
        (
            eu.calls.load(Ordering::SeqCst),
            us.calls.load(Ordering::SeqCst)
        ),
        (2, 1)
    );
}

static PAIR_CALLS: AtomicU32 = AtomicU32::new(0);

#[staunch::cache(ttl = "1m", name = "cache-pairs")]
async fn pair((left, right): (u8, u8), label: &str) -> Result<String, Error> {
    PAIR_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{label}{left}{right}"))
}

#[tokio::test(start_paused = true)]
async fn patterns_and_borrowed_arguments_make_the_key_and_a_handle_forgets_it() {
    assert_eq!(pair((1, 2), "p").await.unwrap(), "p12");
    assert_eq!(pair((1, 2), "p").await.unwrap(), "p12");
    assert_eq!(pair((2, 1), "p").await.unwrap(), "p21");
    assert_eq!(PAIR_CALLS.load(Ordering::SeqCst), 2);
    let cache = staunch::cache("cache-pairs").unwrap();
    assert!(cache.invalidate(&(1_u8, 2_u8, "p".to_owned())));
    assert!(!cache.invalidate(&"not a key of this cache"));
    assert_eq!(pair((1, 2), "p").await.unwrap(), "p12");
    assert_eq!(PAIR_CALLS.load(Ordering::SeqCst), 3);
    cache.clear();
    assert!(cache.is_empty());
}

#[tokio::test(start_paused = true)]
async fn settings_change_a_running_cache() {
    let cache = Cache::builder(secs(30))
        .name("cache-tuned")
        .build_shared()
        .unwrap();
    cache.call(1, || async { Ok::<_, Error>(1) }).await.unwrap();
    let mut settings = Settings::new();
    settings.insert(
        "cache-tuned",
        CacheSettings {
            ttl: Some(secs(5)),
            stale: Some(secs(50)),
            capacity: Some(100),
        },
    );
    staunch::registry().change(settings).unwrap();
    assert_eq!(
        (
            cache.config().ttl(),
            cache.config().stale(),
            cache.config().capacity()
        ),
        (secs(5), secs(50), 100)
    );
    tokio::time::advance(secs(6)).await;
    let stale = cache
        .call(1, || async { Err::<i32, _>(Error::Down) })
        .await
        .unwrap();
    assert_eq!(stale.freshness(), Freshness::Stale { age: secs(6) });
    let snapshot = staunch::registry().snapshot();
    let entry = snapshot
        .instances
        .iter()
        .find(|i| i.name == "cache-tuned")
        .unwrap();
    let json = serde_json::to_value(entry).unwrap();
    assert_eq!(json["kind"], "cache");
    assert_eq!(
        (json["misses"].as_u64(), json["stale"].as_u64()),
        (Some(1), Some(1)),
        "a stale answer is not a miss too: the counts add up to the calls"
    );
    assert_eq!(
        json["settings"],
        serde_json::json!({"ttl": "5s", "stale": "50s", "capacity": 100})
    );
    // A `ttl` alone moves no stale shorter than it: refused, nothing changes.
    let bad: staunch::settings::Table = serde_json::from_str(r#"{"ttl": "1m"}"#).unwrap();
    let error = staunch::registry()
        .change_instance("cache-tuned", &bad)
        .unwrap_err();
    assert!(
        error.to_string().contains("must be at least `ttl`"),
        "{error}"
    );
    assert_eq!(cache.config().ttl(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_rejection_is_answered_stale_through_the_builder() {
    let cache = Cache::builder(secs(1)).stale(secs(10)).build().unwrap();
    cache
        .call((), || async { Ok::<_, Error>(1) })
        .await
        .unwrap();
    tokio::time::advance(secs(2)).await;
    let refused = cache
        .call((), || async {
            Err::<i32, _>(Error::Rejected(Rejected::Timeout { after: ms(5) }))
        })
        .await
        .unwrap();
    assert!(refused.freshness().is_stale());
}

static SHARED_BY_NAME: AtomicU32 = AtomicU32::new(0);

#[staunch::cache(ttl = "1m", name = "cache-shared-name")]
async fn by_number(n: u32) -> Result<u32, Error> {
    SHARED_BY_NAME.fetch_add(1, Ordering::SeqCst);
    Ok(n)
}

#[staunch::cache(ttl = "1m", name = "cache-shared-name")]
async fn by_text(text: &str) -> Result<String, Error> {
    SHARED_BY_NAME.fetch_add(1, Ordering::SeqCst);
    Ok(text.to_owned())
}

#[test]
fn a_name_shared_by_other_types_is_reported_and_those_calls_are_not_cached() {
    let capture = support::capture::Capture::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    tracing::subscriber::with_default(capture.clone(), || {
        rt.block_on(async {
            for _ in 0..2 {
                assert_eq!(by_number(1).await, Ok(1));
                assert_eq!(by_text("a").await.as_deref(), Ok("a"));
            }
        });
    });
    assert_eq!(
        SHARED_BY_NAME.load(Ordering::SeqCst),
        3,
        "the first types' calls cached, the others' made each time"
    );
    let errors: Vec<_> = capture
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e.level == tracing::Level::ERROR && e.field("cache") == Some("cache-shared-name")
        })
        .cloned()
        .collect();
    assert_eq!(errors.len(), 1, "reported once: {errors:#?}");
}

#[derive(Clone)]
struct Region(&'static str);

impl Region {
    fn key(&self, id: &u32) -> (&'static str, u32) {
        (self.0, *id)
    }

    /// `self` by value: the key function borrows it.
    #[staunch::cache(ttl = "1m", key = Self::key)]
    async fn owned(self, id: u32) -> Result<String, Error> {
        Ok(format!("{}:{id}", self.0))
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_taking_self_by_value_is_keyed_through_its_key_function() {
    assert_eq!(Region("eu").owned(1).await.unwrap(), "eu:1");
    assert_eq!(Region("us").owned(1).await.unwrap(), "us:1");
    assert_eq!(staunch::cache::freshness(), Some(Freshness::Live));
    assert_eq!(Region("eu").owned(1).await.unwrap(), "eu:1");
    assert!(staunch::cache::freshness().is_some_and(Freshness::is_cached));
}

#[tokio::test(start_paused = true)]
async fn a_smaller_capacity_evicts_at_once_and_a_longer_ttl_keeps_answers_fresh() {
    let cache = Cache::builder(secs(10))
        .name("cache-resized")
        .capacity(1_000)
        .build_shared()
        .unwrap();
    for key in 0..200_u32 {
        cache
            .call(key, || async { Ok::<_, Error>(key) })
            .await
            .unwrap();
    }
    assert_eq!(cache.len(), 200);
    let smaller = Cache::builder(secs(60))
        .name("cache-resized")
        .capacity(10)
        .config()
        .unwrap();
    cache.reconfigure(smaller).unwrap();
    // About the capacity: the eviction crate rounds it up per shard of the map.
    assert!(cache.len() <= 20, "{} kept", cache.len());
    // Cached 30 s ago: stale under the old ttl, fresh under the new one.
    let longer = Cache::builder(secs(10)).build().unwrap();
    longer
        .call((), || async { Ok::<_, Error>(0) })
        .await
        .unwrap();
    tokio::time::advance(secs(30)).await;
    let config = Cache::builder(secs(60)).config().unwrap();
    longer.reconfigure(config).unwrap();
    let answer = longer
        .call((), || async { Ok::<_, Error>(1) })
        .await
        .unwrap();
    assert_eq!(
        (*answer, answer.freshness()),
        (0, Freshness::Fresh { age: secs(30) })
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_leaves_no_freshness_behind() {
    let cache = Cache::builder(secs(1)).build().unwrap();
    cache.call(1, || async { Ok::<_, Error>(1) }).await.unwrap();
    assert_eq!(staunch::cache::freshness(), Some(Freshness::Live));
    let failed = cache.call(2, || async { Err::<i32, _>(Error::Down) }).await;
    assert_eq!(failed, Err(Error::Down));
    assert_eq!(staunch::cache::freshness(), None);
    // A call dropped before it answers leaves none either.
    cache.call(1, || async { Ok::<_, Error>(1) }).await.unwrap();
    let mut pending = Box::pin(cache.call(3, std::future::pending::<Result<i32, Error>>));
    assert!(support::poll_once(&mut pending).await.is_pending());
    drop(pending);
    assert_eq!(staunch::cache::freshness(), None);
}
