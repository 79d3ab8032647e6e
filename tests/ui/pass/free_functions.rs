//! Each attribute alone on a free function, every option spelled out, and all of them stacked.
#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug)]
enum ApiError {
    Unavailable,
    NotFound,
    Rejected(staunch::Rejected),
}

impl From<staunch::Rejected> for ApiError {
    fn from(rejected: staunch::Rejected) -> Self {
        Self::Rejected(rejected)
    }
}

fn is_transient(error: &ApiError) -> bool {
    matches!(error, ApiError::Unavailable)
}

fn not_found(_id: u64, _error: ApiError) -> std::future::Ready<Result<u64, ApiError>> {
    std::future::ready(Ok(0))
}

async fn cached(id: u64, _error: ApiError) -> Result<u64, ApiError> {
    Ok(id + 1000)
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[staunch::retry(
    max = 4,
    backoff = "exp",
    base = "10ms",
    factor = 1.5,
    max_delay = "1s",
    jitter = "decorrelated",
    max_elapsed = "1m",
    when = is_transient
)]
async fn retried(id: u64) -> Result<u64, ApiError> {
    if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(ApiError::Unavailable);
    }
    Ok(id)
}

#[staunch::retry(backoff = "linear", jitter = "none")]
async fn linear() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::circuit_breaker(name = "ui-consecutive", fail_max = 3, reset = "30s", half_open = 2)]
async fn consecutive() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::circuit_breaker(
    name = "ui-rate",
    window = 100,
    failure_rate = 50,
    min_calls = 20,
    slow_call = "2s",
    slow_rate = 80,
    reset = "30s",
    half_open = 3,
    failure = is_transient
)]
async fn rate_based() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::bulkhead(limit = 10, max_wait = "50ms", name = "ui-inventory")]
async fn bounded() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::rate_limit(rate = "100/s", burst = 20, max_wait = "50ms", name = "ui-search")]
async fn paced() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::rate_limit(rate = "10/500ms")]
async fn paced_alone() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::hedge(delay = "20ms", max = 3, when = is_transient, name = "ui-hedged")]
async fn hedged(id: u64, label: String) -> Result<String, ApiError> {
    Ok(format!("{id}{label}"))
}

#[staunch::timeout("2s")]
async fn short() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::timeout(after = "1m30s")]
async fn named_after() -> Result<(), ApiError> {
    Ok(())
}

#[staunch::fallback(not_found, when = is_not_found)]
async fn guarded(_id: u64) -> Result<u64, ApiError> {
    Err(ApiError::NotFound)
}

fn is_not_found(error: &ApiError) -> bool {
    matches!(error, ApiError::NotFound)
}

#[staunch::fallback(cached)]
#[staunch::retry(max = 4, backoff = "exp", jitter = "full")]
#[staunch::hedge(delay = "50ms")]
#[staunch::circuit_breaker(name = "ui-products", fail_max = 5, reset = "30s")]
#[staunch::rate_limit(rate = "1000/s")]
#[staunch::bulkhead(limit = 10)]
#[staunch::timeout("2s")]
async fn stacked(id: u64) -> Result<u64, ApiError> {
    if id == 0 {
        return Err(ApiError::Unavailable);
    }
    Ok(id)
}

fn assert_send<F: Future + Send>(future: F) -> F {
    future
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(retried(7).await.unwrap(), 7);
    linear().await.unwrap();
    consecutive().await.unwrap();
    rate_based().await.unwrap();
    bounded().await.unwrap();
    paced().await.unwrap();
    paced_alone().await.unwrap();
    assert_eq!(hedged(1, "a".into()).await.unwrap(), "1a");
    short().await.unwrap();
    named_after().await.unwrap();
    assert_eq!(guarded(1).await.unwrap(), 0);
    assert_eq!(assert_send(stacked(7)).await.unwrap(), 7);
    assert_eq!(stacked(0).await.unwrap(), 1000);
}
