//! Fixtures of the integration tests: `mod support;` in a test file. (The counting allocator,
//! `counting_alloc.rs`, is included on its own by the tests and benchmarks that count.)

// Each test crate uses some of them.
#![allow(dead_code)]

pub mod browser;
pub mod capture;
pub mod programs;

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use staunch::Rejected;

/// A dependency's failure, or a layer's rejection: what most tests' functions return.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("dependency down")]
    Down,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

/// Polls `future` once, as an executor does before the future parks.
pub async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A sharing of breakers through a Redis that is not there: its series say so (0 connected).
pub fn unreachable_redis() {
    static STARTED: std::sync::OnceLock<staunch::redis::SharedThroughRedis> =
        std::sync::OnceLock::new();
    static REGISTRY: staunch::Registry = staunch::Registry::new();
    STARTED.get_or_init(|| {
        // Its tasks run on real time, on a runtime of their own (the scenario's clock is
        // paused); the runtime lives as long as the test binary.
        let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        ));
        let _entered = runtime.enter();
        staunch::redis::SharedThroughRedis::builder("redis://127.0.0.1:1/")
            .namespace("unreachable")
            .registry(&REGISTRY)
            .start()
            .unwrap()
    });
}
