//! How long an OPEN decided by one replica takes to reach another through Redis, what a
//! recorded failure costs its caller and how long its script takes to land, and how far a
//! fleet's window breaker decides from one process's: registries (replicas, each with its own
//! connection) share breakers through a `redis-server` this program starts on a free loopback
//! port. Prints p50, p99 and max over the rounds, and the calls each window breaker took to
//! open; skips when `redis-server` is not on `PATH`.
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
    let landing = rt.block_on(landing(&url));
    let windows = rt.block_on(windows(&url));
    let _ = server.kill();
    let _ = server.wait();
    report("OPEN from replica A seen by replica B", propagation);
    report(
        "a failing call on a shared breaker, for its caller",
        recording,
    );
    report("the same on a breaker of its own", local);
    report(
        "a failure's script, from the call to Redis's answer",
        landing,
    );
    for line in windows {
        println!("{line}");
    }
}

/// From a failing call to the sending task's answer from Redis: the Lua round trip a
/// recorded failure costs, off its caller's path.
async fn landing(url: &str) -> Vec<Duration> {
    static REGISTRY: Registry = Registry::new();
    let shared = SharedThroughRedis::builder(url)
        .namespace("bench-landing")
        .registry(&REGISTRY)
        .resync(Duration::from_secs(3600))
        .start()
        .expect("valid settings");
    let breaker = CircuitBreaker::builder("payments")
        .fail_max(u32::MAX)
        .build_shared_in(&REGISTRY)
        .expect("valid settings");
    wait_connected(&[&shared]).await;
    let mut samples = Vec::with_capacity(ROUNDS / 2);
    for _ in 0..ROUNDS / 2 {
        let sent = shared.metrics().sent;
        let started = Instant::now();
        let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
        while shared.metrics().sent == sent {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the script lands"
            );
            tokio::task::yield_now().await;
        }
        samples.push(started.elapsed());
        // Idle again (past its 100 ms of looking for more), as a failure after a quiet spell
        // finds the sending task.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    samples
}

/// Replicas of the window measurement: each a registry sharing through its own connection.
static REPLICAS: [Registry; 3] = [const { Registry::new() }; 3];

/// Fleet calls until a window breaker opens, one process against fleets: a healthy spell
/// fills every window (and every replica reports it), then each call fails with probability
/// `p`, spread over the replicas in turn; each failure's report lands before the next call.
async fn windows(url: &str) -> Vec<String> {
    let shared: Vec<_> = REPLICAS
        .iter()
        .map(|registry| {
            SharedThroughRedis::builder(url)
                .namespace("bench-window")
                .registry(registry)
                .resync(Duration::from_millis(100))
                .start()
                .expect("valid settings")
        })
        .collect();
    wait_connected(&shared.iter().collect::<Vec<_>>()).await;
    let mut lines =
        vec!["window breakers, failure_rate 50, min_calls 5: fleet calls until open".to_owned()];
    for percent in [100, 60] {
        for (replicas, window) in [(1, 20), (2, 20), (2, 10), (3, 7)] {
            let name = format!("window-{percent}-{replicas}x{window}");
            let calls = until_open(&shared[..replicas], &name, window, percent).await;
            let fleet = if replicas == 1 {
                format!("one process, window {window}")
            } else {
                format!("{replicas} replicas, window {window} each")
            };
            lines.push(format!(
                "  p = {percent}%, {fleet}: {}",
                calls.map_or_else(|| "never (2000 calls)".to_owned(), |n| n.to_string())
            ));
        }
    }
    lines
}

async fn until_open(
    shared: &[SharedThroughRedis],
    name: &str,
    window: u32,
    percent: u64,
) -> Option<usize> {
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let breakers: Vec<&'static CircuitBreaker> = REPLICAS[..shared.len()]
        .iter()
        .map(|registry| {
            CircuitBreaker::builder(name)
                .window(window)
                .failure_rate(50)
                .min_calls(5)
                .reset(Duration::from_secs(600))
                .build_shared_in(registry)
                .expect("valid settings")
        })
        .collect();
    for breaker in &breakers {
        for _ in 0..window {
            let _ = breaker.call(|| async { Ok::<_, Error>(()) }).await;
        }
    }
    // Every replica's full window reported, at its resync.
    tokio::time::sleep(Duration::from_millis(350)).await;
    // A fixed sequence of outcomes (a linear congruential generator), the same for every fleet.
    let mut seed: u64 = 0x5eed;
    for call in 0..2000 {
        let at = call % breakers.len();
        let (breaker, sharing) = (breakers[at], &shared[at]);
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let fails = (seed >> 33) % 100 < percent;
        let sent = sharing.metrics().sent;
        let started = Instant::now();
        let _ = breaker
            .call(|| async move { if fails { Err(Error::Down) } else { Ok(()) } })
            .await;
        if fails {
            while sharing.metrics().sent == sent {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the report lands"
                );
                tokio::task::yield_now().await;
            }
        }
        if breakers.iter().any(|b| b.state() == CircuitState::Open) {
            return Some(call + 1);
        }
    }
    None
}

async fn wait_connected(shared: &[&SharedThroughRedis]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !shared.iter().all(|s| s.metrics().connected) {
        assert!(Instant::now() < deadline, "Redis answers");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    wait_connected(&[&shared_a, &shared_b]).await;
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
