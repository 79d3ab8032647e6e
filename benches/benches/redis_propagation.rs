//! How long an OPEN decided by one replica takes to reach another through Redis, and what a
//! recorded failure costs its caller: two registries (two replicas, each with its own
//! connection) share one breaker through a `redis-server` this program starts on a free
//! loopback port. Prints p50, p99 and max over the rounds; skips when `redis-server` is not on
//! `PATH`.
//!
//! ```sh
//! cargo bench -p staunch-benches --bench redis_propagation
//! ```

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use staunch::redis::SharedThroughRedis;
use staunch::{CircuitBreaker, CircuitState, Registry};

const ROUNDS: usize = 200;

/// The dependency's failure, or the breaker's refusal.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("down")]
    Down,
    #[error(transparent)]
    Rejected(#[from] staunch::Rejected),
}

fn main() {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join("redis-server").is_file())
    });
    if !on_path {
        println!("redis_propagation: skipped, `redis-server` is not on PATH");
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let url = format!("redis://127.0.0.1:{port}/");
    let (propagation, recording) = rt.block_on(measure(&url));
    let local = rt.block_on(local_failures());
    let _ = server.kill();
    let _ = server.wait();
    report("OPEN from replica A seen by replica B", propagation);
    report(
        "a failing call on a shared breaker, for its caller",
        recording,
    );
    report("the same on a breaker of its own", local);
}

async fn measure(url: &str) -> (Vec<Duration>, Vec<Duration>) {
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    let replica = |registry: &'static Registry| {
        let shared = SharedThroughRedis::builder(url)
            .namespace("bench")
            .registry(registry)
            .resync(Duration::from_secs(3600))
            .start()
            .expect("valid settings");
        let breaker = CircuitBreaker::builder("payments")
            .fail_max(1)
            .reset(Duration::from_secs(60))
            .build_shared_in(registry)
            .expect("valid settings");
        (shared, breaker)
    };
    let (shared_a, a) = replica(&A);
    let (shared_b, b) = replica(&B);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(shared_a.metrics().connected && shared_b.metrics().connected) {
        assert!(Instant::now() < deadline, "Redis answers");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut propagation = Vec::with_capacity(ROUNDS);
    let mut recording = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let _ = a.call(|| async { Err::<(), _>(Error::Down) }).await;
        recording.push(started.elapsed());
        while b.state() != CircuitState::Open {
            assert!(started.elapsed() < Duration::from_secs(5), "B sees OPEN");
            tokio::task::yield_now().await;
        }
        propagation.push(started.elapsed());
        // Closed again everywhere before the next round.
        a.reset();
        let closing = Instant::now();
        while b.state() != CircuitState::Closed {
            assert!(
                closing.elapsed() < Duration::from_secs(5),
                "B sees CLOSED: A {:?} {:?}, B {:?} {:?}",
                a.state(),
                shared_a.metrics(),
                b.state(),
                shared_b.metrics()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    (propagation, recording)
}

/// The failing call of `measure` on a breaker that shares nothing.
async fn local_failures() -> Vec<Duration> {
    let breaker = CircuitBreaker::builder("payments-local")
        .fail_max(1)
        .reset(Duration::from_secs(60))
        .build()
        .expect("valid settings");
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
        samples.push(started.elapsed());
        breaker.reset();
    }
    samples
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((samples.len() - 1) as f64 * p).round() as usize;
        samples[index]
    };
    println!(
        "{what}: p50 {:?}, p99 {:?}, max {:?} ({} rounds)",
        at(0.5),
        at(0.99),
        samples[samples.len() - 1],
        samples.len()
    );
}
