//! Attributes compose in reading order: the top one is the outermost layer.

use std::sync::atomic::{AtomicU32, Ordering};

use staunch::Rejected;

#[derive(Debug, PartialEq, thiserror::Error)]
enum Error {
    #[error("down")]
    Down,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

#[allow(clippy::unused_async)]
async fn from_cache(id: u32, error: Error) -> Result<String, Error> {
    Ok(format!("cached {id} after {error}"))
}

#[tokio::test(start_paused = true)]
async fn fallback_above_retry_answers_once_after_every_attempt() {
    static BODY: AtomicU32 = AtomicU32::new(0);
    static FALLBACK: AtomicU32 = AtomicU32::new(0);

    async fn counted_cache(id: u32, error: Error) -> Result<String, Error> {
        FALLBACK.fetch_add(1, Ordering::SeqCst);
        from_cache(id, error).await
    }

    #[staunch::fallback(counted_cache)]
    #[staunch::retry(max = 3, base = "1ms")]
    async fn fetch(id: u32) -> Result<String, Error> {
        BODY.fetch_add(1, Ordering::SeqCst);
        let _ = id;
        Err(Error::Down)
    }

    assert_eq!(fetch(4).await.unwrap(), "cached 4 after down");
    assert_eq!(BODY.load(Ordering::SeqCst), 3);
    assert_eq!(FALLBACK.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_above_fallback_sees_the_fallback_succeed() {
    static BODY: AtomicU32 = AtomicU32::new(0);

    #[staunch::retry(max = 3, base = "1ms")]
    #[staunch::fallback(from_cache)]
    async fn fetch(id: u32) -> Result<String, Error> {
        BODY.fetch_add(1, Ordering::SeqCst);
        let _ = id;
        Err(Error::Down)
    }

    assert_eq!(fetch(5).await.unwrap(), "cached 5 after down");
    assert_eq!(BODY.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn fallback_when_filters_the_errors_it_answers() {
    fn technical(e: &Error) -> bool {
        *e != Error::NotFound
    }

    async fn cache_either(id: u32, _fail: bool, error: Error) -> Result<String, Error> {
        from_cache(id, error).await
    }

    #[staunch::fallback(cache_either, when = technical)]
    async fn fetch(id: u32, fail: bool) -> Result<String, Error> {
        if fail {
            return Err(Error::Down);
        }
        Err(Error::NotFound).map(|()| id.to_string())
    }

    assert_eq!(fetch(1, true).await.unwrap(), "cached 1 after down");
    assert_eq!(fetch(1, false).await, Err(Error::NotFound));
}

#[tokio::test(start_paused = true)]
async fn fallback_answers_for_an_open_breaker() {
    #[staunch::fallback(from_cache)]
    #[staunch::circuit_breaker(name = "composition-open", fail_max = 1)]
    async fn fetch(id: u32) -> Result<String, Error> {
        let _ = id;
        Err(Error::Down)
    }
    assert_eq!(fetch(1).await.unwrap(), "cached 1 after down");
    let answer = fetch(2).await.unwrap();
    assert!(
        answer.starts_with("cached 2 after circuit breaker `composition-open` is open"),
        "{answer}"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_inside_retry_bounds_each_attempt_and_outside_bounds_all() {
    static INNER: AtomicU32 = AtomicU32::new(0);
    static OUTER: AtomicU32 = AtomicU32::new(0);

    #[staunch::retry(max = 3, backoff = "constant", base = "10ms", jitter = "none")]
    #[staunch::timeout("100ms")]
    async fn per_attempt() -> Result<(), Error> {
        INNER.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        Ok(())
    }

    #[staunch::timeout("100ms")]
    #[staunch::retry(max = 3, backoff = "constant", base = "10ms", jitter = "none")]
    async fn overall() -> Result<(), Error> {
        OUTER.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        Ok(())
    }

    let start = tokio::time::Instant::now();
    assert!(matches!(
        per_attempt().await,
        Err(Error::Rejected(Rejected::Timeout { .. }))
    ));
    assert_eq!(INNER.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed().as_millis(), 320);

    let start = tokio::time::Instant::now();
    assert!(matches!(
        overall().await,
        Err(Error::Rejected(Rejected::Timeout { .. }))
    ));
    assert_eq!(OUTER.load(Ordering::SeqCst), 1);
    assert_eq!(start.elapsed().as_millis(), 100);
}

#[tokio::test(start_paused = true)]
async fn retry_and_fallback_alone_need_no_from_rejected() {
    #[derive(Debug, PartialEq)]
    struct Plain;

    #[allow(clippy::unused_async)]
    async fn default_answer(_error: Plain) -> Result<u8, Plain> {
        Ok(0)
    }

    #[staunch::fallback(default_answer)]
    #[staunch::retry(max = 2, base = "1ms")]
    async fn plain() -> Result<u8, Plain> {
        Err(Plain)
    }
    assert_eq!(plain().await, Ok(0));
}
