//! `#[cache]` on the shapes a function takes: borrowed and owned arguments, none, a method
//! keyed by a function of its own, an answer that carries its freshness, and the cache
//! stacked above the other layers; every future `Send`.
#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};

use staunch::cache::{Cached, Freshness};

#[derive(Debug)]
enum ApiError {
    Unavailable,
    Rejected(staunch::Rejected),
}

impl From<staunch::Rejected> for ApiError {
    fn from(rejected: staunch::Rejected) -> Self {
        Self::Rejected(rejected)
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// A borrowed and an owned argument: the key is `(String, u32)`.
#[staunch::cache(ttl = "30s", stale = "10m", capacity = 10_000, name = "ui-profiles")]
async fn profile(user: &str, version: u32) -> Result<String, ApiError> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{user}@{version}"))
}

/// No argument: one answer, keyed by `()`.
#[staunch::cache(ttl = "1m")]
async fn settings() -> Result<u64, ApiError> {
    Ok(42)
}

/// The answer says how fresh it is.
#[staunch::cache(ttl = "30s", stale = "1m")]
async fn price(sku: u64) -> Result<Cached<u64>, ApiError> {
    Ok(Cached::new(sku * 100))
}

fn region_key(region: &str, _id: &u64) -> String {
    region.to_owned()
}

/// A free function's key function: the id is not part of the key.
#[staunch::cache(ttl = "1m", key = region_key)]
async fn by_region(region: &str, id: u64) -> Result<String, ApiError> {
    Ok(format!("{region}:{id}"))
}

/// An argument borrowed mutably is part of the key as it is; `_` is none of it.
#[staunch::cache(ttl = "1m")]
async fn scratch(buffer: &mut Vec<u8>, _: u32) -> Result<usize, ApiError> {
    buffer.push(1);
    Ok(buffer.len())
}

struct Directory {
    region: &'static str,
}

impl Directory {
    fn key(&self, id: &u32, _label: &str) -> (&'static str, u32) {
        (self.region, *id)
    }

    /// Shared by every `Directory`: the receiver is not part of the key.
    #[staunch::cache(ttl = "1m")]
    async fn status(&self) -> Result<&'static str, ApiError> {
        Ok(self.region)
    }

    /// Keyed by the region and the id: the label is not part of the key.
    #[staunch::cache(ttl = "1m", key = Self::key)]
    async fn lookup(&self, id: u32, label: &str) -> Result<String, ApiError> {
        Ok(format!("{}:{id}:{label}", self.region))
    }
}

/// The cache above the layers that fail and reject: a failure or a rejection is answered
/// stale, an answer is cached once the retries are done.
#[staunch::cache(ttl = "30s", stale = "10m")]
#[staunch::retry(max = 3)]
#[staunch::circuit_breaker(name = "ui-cached-products")]
#[staunch::timeout("1s")]
async fn product(id: u64) -> Result<u64, ApiError> {
    if id == 0 {
        return Err(ApiError::Unavailable);
    }
    Ok(id)
}

fn assert_send<T: Send>(_: T) {}

/// Never run: the futures are only checked to be `Send`.
#[allow(dead_code)]
fn futures_are_send(directory: &Directory) {
    assert_send(profile("ada", 1));
    assert_send(settings());
    assert_send(price(7));
    assert_send(by_region("eu", 1));
    assert_send(scratch(&mut Vec::new(), 1));
    assert_send(directory.status());
    assert_send(directory.lookup(1, "a"));
    assert_send(product(7));
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(profile("ada", 1).await.unwrap(), "ada@1");
    assert_eq!(profile("ada", 1).await.unwrap(), "ada@1");
    assert_eq!(CALLS.load(Ordering::SeqCst), 1, "the second call is a hit");
    assert_eq!(settings().await.unwrap(), 42);
    assert_eq!(price(7).await.unwrap().freshness(), Freshness::Live);
    assert!(price(7).await.unwrap().freshness().is_cached());
    let directory = Directory { region: "eu" };
    assert_eq!(directory.lookup(1, "a").await.unwrap(), "eu:1:a");
    assert_eq!(
        directory.lookup(1, "b").await.unwrap(),
        "eu:1:a",
        "the label is not part of the key"
    );
    assert_eq!(by_region("eu", 1).await.unwrap(), "eu:1");
    assert_eq!(
        by_region("eu", 2).await.unwrap(),
        "eu:1",
        "the id is not part of the key"
    );
    let mut buffer = Vec::new();
    assert_eq!(scratch(&mut buffer, 1).await.unwrap(), 1);
    assert_eq!(scratch(&mut buffer, 2).await.unwrap(), 2, "another key: made again");
    assert_eq!(directory.status().await.unwrap(), "eu");
    assert_eq!(product(7).await.unwrap(), 7);
    assert!(matches!(product(0).await, Err(ApiError::Unavailable)));
}
