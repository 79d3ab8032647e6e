use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("upstream unavailable")]
    Unavailable,
    #[error(transparent)]
    Rejected(#[from] staunch::Rejected),
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Product(u64);

static CALLS: AtomicU32 = AtomicU32::new(0);

async fn cached_product(id: u64, _error: ApiError) -> Result<Product, ApiError> {
    Ok(Product(id + 1000))
}

#[staunch::fallback(cached_product)]
#[staunch::retry(max = 4, backoff = "exp", jitter = "full")]
#[staunch::circuit_breaker(name = "smoke-products", fail_max = 5, reset = "30s")]
#[staunch::bulkhead(limit = 10)]
#[staunch::timeout("2s")]
async fn fetch_product(id: u64) -> Result<Product, ApiError> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    if id == 0 {
        return Err(ApiError::Unavailable);
    }
    Ok(Product(id))
}

#[tokio::test(start_paused = true)]
async fn spec_example() {
    assert_eq!(fetch_product(7).await.unwrap(), Product(7));
    assert_eq!(fetch_product(0).await.unwrap(), Product(1000));
    assert_eq!(CALLS.load(Ordering::SeqCst), 5);
}
