//! Breakers shared through a real `redis-server`, started by each test on a free loopback port
//! (skipped, and saying so, where the program is missing): two replicas (two registries, each
//! with its own connection) count failures together and open together, and so do three OS
//! processes; the fleet runs its HALF_OPEN trials once, under a lease; a healthy CLOSED call
//! sends Redis nothing; Redis killed and restarted, or paused and resumed, under running
//! breakers blocks no call, and the fleet's state is taken in again when it answers.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use staunch::redis::SharedThroughRedis;
use staunch::{CircuitBreaker, CircuitState, Registry};

mod support;
use support::{Error, programs};

/// A `redis-server` of the test's own, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    program: std::path::PathBuf,
}

impl Server {
    fn start(program: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Self::on(program, port)
    }

    fn on(program: &Path, port: u16) -> Self {
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = Self {
            child,
            port,
            program: program.to_owned(),
        };
        assert!(
            eventually(Duration::from_secs(10), || server
                .command(&["PING"])
                .is_some()),
            "redis-server answers on port {port}"
        );
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs one command with a blocking connection of its own; `None` when Redis is away.
    fn command(&self, args: &[&str]) -> Option<String> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut connection = client
            .get_connection_with_timeout(Duration::from_millis(200))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let value: redis::Value = cmd.query(&mut connection).ok()?;
        Some(match value {
            redis::Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            other => format!("{other:?}"),
        })
    }

    /// How many scripts Redis has run (a first `EVALSHA` of a script Redis does not know
    /// yet fails, and the client loads it: not counted).
    fn scripts_run(&self) -> u64 {
        let stats = self.command(&["INFO", "commandstats"]).unwrap_or_default();
        let field = |line: &str, name: &str| -> u64 {
            line.split(&format!("{name}="))
                .nth(1)
                .and_then(|rest| rest.split(',').next()?.trim().parse().ok())
                .unwrap_or(0)
        };
        stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_eval"))
            .map(|l| field(l, "calls") - field(l, "failed_calls"))
            .sum()
    }

    /// Sends the server `signal` (`STOP`, `CONT`).
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        *self = Self::on(&self.program.clone(), self.port);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `condition` every 10 ms for at most `limit`.
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

async fn eventually_async(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// A replica: a registry of its own, sharing its breakers through its own connection.
fn replica(
    registry: &'static Registry,
    server: &Server,
    namespace: &str,
    resync: Duration,
) -> (SharedThroughRedis, &'static CircuitBreaker) {
    let shared = SharedThroughRedis::builder(server.url())
        .namespace(namespace)
        .registry(registry)
        .resync(resync)
        .start()
        .unwrap();
    let breaker = CircuitBreaker::builder("payments")
        .fail_max(3)
        .reset(Duration::from_secs(30))
        .build_shared_in(registry)
        .unwrap();
    assert!(breaker.is_shared());
    (shared, breaker)
}

/// Two replicas of a breaker that opens at one failure and tries one trial after `reset`,
/// each holding the trials for `lease`; connected, and opened by a failure on the first.
async fn opened_pair(
    [first, second]: [&'static Registry; 2],
    server: &Server,
    namespace: &str,
    lease: Duration,
    reset: Duration,
) -> [&'static CircuitBreaker; 2] {
    let replica = |registry: &'static Registry| {
        let shared = SharedThroughRedis::builder(server.url())
            .namespace(namespace)
            .registry(registry)
            .resync(Duration::from_secs(60))
            .trial_lease(lease)
            .start()
            .unwrap();
        let breaker = CircuitBreaker::builder("payments")
            .fail_max(1)
            .reset(reset)
            .half_open(1)
            .build_shared_in(registry)
            .unwrap();
        (shared, breaker)
    };
    let (shared_a, a) = replica(first);
    let (shared_b, b) = replica(second);
    assert!(
        eventually_async(Duration::from_secs(5), || {
            shared_a.metrics().connected && shared_b.metrics().connected
        })
        .await,
        "both replicas connected"
    );
    fail(a).await;
    assert!(
        eventually_async(Duration::from_secs(5), || b.state() == CircuitState::Open).await,
        "B follows A opening"
    );
    // The sharing goes on in its tasks; the handles are not needed to keep it.
    drop((shared_a, shared_b));
    [a, b]
}

async fn fail(breaker: &CircuitBreaker) {
    let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_count_failures_together_and_open_together() {
    let Some(program) = programs::find("redis-server", "replicas_count_failures_together") else {
        return;
    };
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    let server = Server::start(&program);
    let (shared_a, a) = replica(&A, &server, "fleet-open", Duration::from_secs(60));
    let (shared_b, b) = replica(&B, &server, "fleet-open", Duration::from_secs(60));
    // Until Redis answers, each decides alone (what it counts then is its own).
    assert!(
        eventually_async(Duration::from_secs(5), || {
            shared_a.metrics().connected && shared_b.metrics().connected
        })
        .await,
        "both replicas connected"
    );
    // Two failures on A, one on B: neither reaches `fail_max` alone, the fleet does.
    fail(a).await;
    fail(a).await;
    assert!(
        eventually_async(Duration::from_secs(5), || shared_a.metrics().sent == 2).await,
        "A's failures reached Redis: {:?}",
        shared_a.metrics()
    );
    fail(b).await;
    assert!(
        eventually_async(Duration::from_secs(5), || {
            a.state() == CircuitState::Open && b.state() == CircuitState::Open
        })
        .await,
        "both open: A {:?}, B {:?}",
        a.state(),
        b.state()
    );
    assert_eq!(
        server
            .command(&["HGET", "fleet-open:breaker:payments", "state"])
            .as_deref(),
        Some("open")
    );
    // Open on Redis's clock: about `reset` left.
    let until: u64 = server
        .command(&["HGET", "fleet-open:breaker:payments", "open_until"])
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(until > 0);
    // Closed by one replica (a reset by its operator): closed everywhere.
    b.reset();
    assert!(
        eventually_async(Duration::from_secs(5), || a.state() == CircuitState::Closed).await,
        "A follows B closing: {:?}",
        a.state()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_closed_call_sends_redis_nothing() {
    let Some(program) = programs::find("redis-server", "a_healthy_closed_call_sends_nothing")
    else {
        return;
    };
    static REGISTRY: Registry = Registry::new();
    let server = Server::start(&program);
    let (shared, breaker) = replica(&REGISTRY, &server, "fleet-quiet", Duration::from_secs(3600));
    // The first read of the fleet's state, after subscribing.
    assert!(
        eventually_async(Duration::from_secs(5), || shared.metrics().connected).await,
        "connected"
    );
    let before = server.scripts_run();
    for _ in 0..1000 {
        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.scripts_run(), before, "no script for a healthy call");
    fail(breaker).await;
    assert!(
        eventually_async(Duration::from_secs(5), || server.scripts_run()
            == before + 1)
        .await,
        "a failure is one script"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_blocks_no_call_and_its_state_is_taken_in_when_it_returns() {
    let Some(program) = programs::find("redis-server", "redis_killed_blocks_no_call") else {
        return;
    };
    static REGISTRY: Registry = Registry::new();
    let mut server = Server::start(&program);
    let (shared, breaker) = replica(
        &REGISTRY,
        &server,
        "fleet-outage",
        Duration::from_millis(200),
    );
    assert!(eventually_async(Duration::from_secs(5), || shared.metrics().connected).await);
    server.kill();
    // Alone, the breaker still decides: three failures open it, none waiting on Redis.
    let started = Instant::now();
    for _ in 0..3 {
        fail(breaker).await;
    }
    let took = started.elapsed();
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(
        took < Duration::from_millis(250),
        "no call waited on Redis ({took:?})"
    );
    assert!(
        eventually_async(Duration::from_secs(5), || {
            let m = shared.metrics();
            !m.connected && m.dropped > 0
        })
        .await,
        "the records were shed: {:?}",
        shared.metrics()
    );
    // Back, empty: the fleet's breaker is closed, and this replica's stale opening does not
    // outlive it.
    server.restart();
    assert!(
        eventually_async(Duration::from_secs(10), || breaker.state()
            == CircuitState::Closed)
        .await,
        "taken in: {:?} {:?}",
        breaker.state(),
        shared.metrics()
    );
    assert!(shared.metrics().connected);
}

/// The variable that makes this test binary a replica (see `replica_process`).
const REPLICA_OF: &str = "REDIS_TEST_REPLICA_OF";

/// One replica of a test service, in a process of its own: started by
/// `failures_spread_over_processes_open_the_breaker_in_each` (ignored otherwise). It connects,
/// fails once, and waits until its breaker is open; it exits non-zero when it is not within 10 s.
#[test]
#[ignore = "a replica process, started by another test"]
fn replica_process() {
    let url = std::env::var(REPLICA_OF).expect("started by the fleet test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let shared = SharedThroughRedis::builder(url)
            .namespace("fleet-processes")
            .start()
            .unwrap();
        let breaker = CircuitBreaker::builder("payments")
            .fail_max(3)
            .reset(Duration::from_secs(30))
            .build_shared()
            .unwrap();
        assert!(
            eventually_async(Duration::from_secs(10), || shared.metrics().connected).await,
            "connected"
        );
        println!("replica ready");
        fail(breaker).await;
        assert!(
            eventually_async(Duration::from_secs(10), || breaker.state()
                == CircuitState::Open)
            .await,
            "open: {:?} {:?}",
            breaker.state(),
            shared.metrics()
        );
        println!("replica saw open");
    });
}

#[test]
fn failures_spread_over_processes_open_the_breaker_in_each() {
    let Some(program) = programs::find("redis-server", "failures_spread_over_processes") else {
        return;
    };
    let server = Server::start(&program);
    let me = std::env::current_exe().unwrap();
    // Three replicas, one failure each: none reaches `fail_max = 3` alone, the fleet does.
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&me)
                .args(["--exact", "replica_process", "--ignored", "--nocapture"])
                .env(REPLICA_OF, server.url())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for replica in replicas {
        let output = replica.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("replica saw open"),
            "a replica did not see the fleet's breaker open:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        server
            .command(&["HGET", "fleet-processes:breaker:payments", "state"])
            .as_deref(),
        Some("open")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_runs_half_open_trials_once_under_a_lease() {
    let Some(program) = programs::find("redis-server", "the_fleet_runs_half_open_trials_once")
    else {
        return;
    };
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    let server = Server::start(&program);
    let [a, b] = opened_pair(
        [&A, &B],
        &server,
        "fleet-trials",
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .await;
    // After the deadline both replicas keep calling; a trial stays in flight until the gate
    // opens. One replica holds the lease, and its breaker admits its one trial.
    let trials = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, opened) = tokio::sync::watch::channel(false);
    let mut calls = tokio::task::JoinSet::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        for breaker in [a, b] {
            let (trials, mut opened) = (std::sync::Arc::clone(&trials), opened.clone());
            calls.spawn(async move {
                breaker
                    .call(|| async move {
                        trials.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = opened.wait_for(|open| *open).await;
                        Ok::<_, Error>(())
                    })
                    .await
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        trials.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one trial in the fleet: A {:?}, B {:?}",
        a.state(),
        b.state()
    );
    gate.send(true).unwrap();
    while let Some(done) = calls.join_next().await {
        done.unwrap().ok();
    }
    assert!(
        eventually_async(Duration::from_secs(5), || {
            a.state() == CircuitState::Closed && b.state() == CircuitState::Closed
        })
        .await,
        "the trial closed the fleet's breaker: A {:?}, B {:?}",
        a.state(),
        b.state()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_held_by_a_stuck_replica_expires_and_another_runs_the_trials() {
    let Some(program) = programs::find("redis-server", "a_lease_held_by_a_stuck_replica") else {
        return;
    };
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    let server = Server::start(&program);
    let [a, b] = opened_pair(
        [&A, &B],
        &server,
        "fleet-stuck",
        Duration::from_millis(500),
        Duration::from_millis(200),
    )
    .await;
    // The first replica to get the lease never finishes its trial (as one frozen or gone);
    // the other takes the lease over once it expires, and its trial closes the breaker
    // everywhere.
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let mut calls = tokio::task::JoinSet::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5)
        && !(a.state() == CircuitState::Closed && b.state() == CircuitState::Closed)
    {
        for breaker in [a, b] {
            let bodies = std::sync::Arc::clone(&bodies);
            calls.spawn(async move {
                breaker
                    .call(|| async move {
                        let first = {
                            let mut bodies = bodies.lock().unwrap();
                            bodies.push(Instant::now());
                            bodies.len() == 1
                        };
                        if first {
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, Error>(())
                    })
                    .await
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        (a.state(), b.state()),
        (CircuitState::Closed, CircuitState::Closed),
        "the second lease's trial closed the fleet's breaker"
    );
    let bodies = bodies.lock().unwrap().clone();
    assert!(bodies.len() >= 2, "two trials: {bodies:?}");
    let waited = bodies[1] - bodies[0];
    assert!(
        waited >= Duration::from_millis(400),
        "the second trial waited for the first lease to expire (500 ms), not {waited:?}"
    );
    calls.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_blocks_no_call_and_the_fleet_decides_when_it_resumes() {
    let Some(program) = programs::find("redis-server", "redis_paused_blocks_no_call") else {
        return;
    };
    static REGISTRY: Registry = Registry::new();
    let server = Server::start(&program);
    let (shared, breaker) = replica(
        &REGISTRY,
        &server,
        "fleet-paused",
        Duration::from_millis(200),
    );
    assert!(eventually_async(Duration::from_secs(5), || shared.metrics().connected).await);
    server.signal("STOP");
    let started = Instant::now();
    for _ in 0..3 {
        fail(breaker).await;
    }
    let took = started.elapsed();
    assert_eq!(breaker.state(), CircuitState::Open, "it decided alone");
    assert!(
        took < Duration::from_millis(250),
        "no call waited on Redis ({took:?})"
    );
    assert!(
        eventually_async(Duration::from_secs(5), || !shared.metrics().connected).await,
        "a command timed out: {:?}",
        shared.metrics()
    );
    server.signal("CONT");
    // Resumed: the fleet counted at most what reached it before the pause was noticed (not
    // `fail_max`), so its closed breaker is taken in.
    assert!(
        eventually_async(Duration::from_secs(10), || {
            shared.metrics().connected && breaker.state() == CircuitState::Closed
        })
        .await,
        "reconciled: {:?} {:?}",
        breaker.state(),
        shared.metrics()
    );
}
