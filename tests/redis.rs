//! Breakers shared through a real `redis-server`, started by each test on a free loopback port
//! (skipped, and saying so, where the program is missing): two replicas (two registries, each
//! with its own connection) count failures together and open together, and so do three OS
//! processes; a window breaker judges the fleet's window; the fleet runs its HALF_OPEN trials
//! once, under a lease (in one process and across three), which expires when its holder is stuck or its process killed; a replica
//! whose clock runs an hour ahead half-opens when the fleet does; a healthy CLOSED call sends
//! Redis nothing; Redis killed and restarted, paused and resumed, or flushed under running
//! breakers blocks no call (latency measured), and the fleet's state is reconciled when it
//! answers.

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
        let mut connection = self.connection()?;
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

    fn connection(&self) -> Option<redis::Connection> {
        connect(&self.url())
    }

    /// The values of the hash at `key` (none when Redis is away).
    fn values(&self, key: &str) -> Vec<String> {
        self.connection()
            .and_then(|mut c| redis::cmd("HVALS").arg(key).query(&mut c).ok())
            .unwrap_or_default()
    }

    /// Redis's clock, in milliseconds.
    fn time_ms(&self) -> u64 {
        redis_time_ms(&mut self.connection().expect("Redis answers"))
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

/// A blocking connection of the test's own; `None` when Redis is away.
fn connect(url: &str) -> Option<redis::Connection> {
    redis::Client::open(url)
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(200))
        .ok()
}

/// Redis's clock, in milliseconds.
fn redis_time_ms(connection: &mut redis::Connection) -> u64 {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query(connection).expect("TIME answers");
    seconds * 1000 + micros / 1000
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

/// Waits (at most 10 s) until every replica's sharing has read the fleet's state.
async fn connected(shared: &[&SharedThroughRedis]) {
    assert!(
        eventually_async(Duration::from_secs(10), || shared
            .iter()
            .all(|s| s.metrics().connected))
        .await,
        "connected: {:?}",
        shared.iter().map(|s| s.metrics()).collect::<Vec<_>>()
    );
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

/// A replica of a breaker that opens at one failure and tries one trial after `reset`, holding
/// the trials for `lease`.
fn trial_replica(
    registry: &'static Registry,
    url: &str,
    namespace: &str,
    lease: Duration,
    reset: Duration,
) -> (SharedThroughRedis, &'static CircuitBreaker) {
    let shared = SharedThroughRedis::builder(url)
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
    let replica = |registry| trial_replica(registry, &server.url(), namespace, lease, reset);
    let (shared_a, a) = replica(first);
    let (shared_b, b) = replica(second);
    connected(&[&shared_a, &shared_b]).await;
    fail(a).await;
    assert!(
        eventually_async(Duration::from_secs(5), || b.state() == CircuitState::Open).await,
        "B follows A opening"
    );
    // The sharing goes on in its tasks; the handles are not needed to keep it.
    drop((shared_a, shared_b));
    [a, b]
}

/// Three failures, then calls the open breaker turns away, each timed: none waits on Redis
/// (a call that did would take the command timeout, 250 ms; the bound leaves room for a
/// loaded machine's preemption). Prints the median and the worst.
async fn calls_keep_their_latency(breaker: &CircuitBreaker, while_: &str) {
    let mut took = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        if i < 3 {
            fail(breaker).await;
        } else {
            let _ = breaker.call(|| async { Ok::<_, Error>(()) }).await;
        }
        took.push(started.elapsed());
    }
    took.sort();
    let (median, worst) = (took[took.len() / 2], took[took.len() - 1]);
    println!("{while_}: a call's latency p50 {median:?}, max {worst:?} over 200 calls");
    assert!(
        worst < Duration::from_millis(200),
        "{while_}: a call waited on Redis ({worst:?})"
    );
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
    connected(&[&shared_a, &shared_b]).await;
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
    connected(&[&shared]).await;
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
    connected(&[&shared]).await;
    server.kill();
    // Alone, the breaker still decides: three failures open it, none waiting on Redis.
    calls_keep_their_latency(breaker, "Redis killed").await;
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(
        eventually_async(Duration::from_secs(5), || {
            let m = shared.metrics();
            !m.connected && m.dropped > 0
        })
        .await,
        "the records were shed: {:?}",
        shared.metrics()
    );
    // Back, empty: the fleet's breaker is closed, and this replica's opening while Redis was
    // away (its own, not the fleet's) does not outlive it.
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

/// The variable that makes this test binary a replica (see `replica_process`): the URL of
/// the fleet's Redis.
const REPLICA_OF: &str = "REDIS_TEST_REPLICA_OF";
/// Set for the replica that opens the breaker, in `count-trials`.
const FIRST: &str = "REDIS_TEST_FIRST";

/// This test binary run again as a replica of the fleet on `server`, in `role`.
fn replica_process_of(server: &Server, role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "replica_process", "--ignored", "--nocapture"])
        .env(REPLICA_OF, server.url())
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}
/// What the replica does: `fail-once` (by default), `hang-in-trial` or `count-trials`.
const ROLE: &str = "REDIS_TEST_ROLE";

/// One replica of a test service, in a process of its own, started by another test (ignored
/// otherwise). `fail-once` (for `failures_spread_over_processes_open_the_breaker_in_each`)
/// connects, fails once, and waits until its breaker is open, exiting non-zero when it is not
/// within 10 s. `hang-in-trial` (for `a_replica_killed_in_its_trial_does_not_wedge_half_open`)
/// opens the fleet's breaker and calls until its trial starts, which never ends.
/// `count-trials` (for `the_processes_of_a_fleet_run_one_trial_between_them`) calls for 4 s
/// (the first replica failing once at 1 s), and prints how many of its calls ran as trials.
#[test]
#[ignore = "a replica process, started by another test"]
fn replica_process() {
    let url = std::env::var(REPLICA_OF).expect("started by a fleet test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(ROLE).as_deref() {
        Ok("hang-in-trial") => runtime.block_on(hang_in_trial(&url)),
        Ok("count-trials") => runtime.block_on(count_trials(&url)),
        _ => runtime.block_on(fail_once(url)),
    }
}

/// How long after the script that opens the fleet's breaker every replica process has it
/// open, on Redis's clock (one pub/sub delivery and this test's 10 ms polling; measured p99
/// 7 ms, BENCHMARKS.md).
const OPEN_EVERYWHERE_MS: i64 = 1000;

async fn fail_once(url: String) {
    let shared = SharedThroughRedis::builder(url.clone())
        .namespace("fleet-processes")
        .start()
        .unwrap();
    let breaker = CircuitBreaker::builder("payments")
        .fail_max(3)
        .reset(Duration::from_secs(30))
        .build_shared()
        .unwrap();
    connected(&[&shared]).await;
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
    let mut redis = connect(&url).expect("Redis answers");
    let now = redis_time_ms(&mut redis);
    let open_until: u64 = redis::cmd("HGET")
        .arg("fleet-processes:breaker:payments")
        .arg("open_until")
        .query(&mut redis)
        .expect("the fleet's deadline");
    // The script set the deadline a `reset` (30 s) after it opened the breaker.
    let after = i64::try_from(now).unwrap() - (i64::try_from(open_until).unwrap() - 30_000);
    println!("replica saw open {after} ms after the fleet opened");
}

/// Calls every 10 ms for 4 s, the first replica (`REDIS_TEST_FIRST`) failing once after 1 s;
/// prints `trials N`, the calls that ran while its breaker was HALF_OPEN.
async fn count_trials(url: &str) {
    let (shared, breaker) = trial_replica(
        staunch::registry(),
        url,
        "fleet-trial-count",
        Duration::from_secs(2),
        Duration::from_millis(500),
    );
    connected(&[&shared]).await;
    let first = std::env::var_os(FIRST).is_some();
    let started = Instant::now();
    let trials = std::sync::atomic::AtomicU32::new(0);
    let mut failed = false;
    while started.elapsed() < Duration::from_secs(4) {
        if first && !failed && started.elapsed() >= Duration::from_secs(1) {
            fail(breaker).await;
            failed = true;
        }
        let _ = breaker
            .call(|| async {
                if breaker.state() == CircuitState::HalfOpen {
                    trials.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok::<_, Error>(())
            })
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "{:?}",
        shared.metrics()
    );
    println!("trials {}", trials.into_inner());
}

/// The lease and `reset` of `a_replica_killed_in_its_trial_does_not_wedge_half_open`.
const KILLED_LEASE: Duration = Duration::from_secs(2);
const KILLED_RESET: Duration = Duration::from_millis(300);

async fn hang_in_trial(url: &str) {
    let (shared, breaker) = trial_replica(
        staunch::registry(),
        url,
        "fleet-killed",
        KILLED_LEASE,
        KILLED_RESET,
    );
    connected(&[&shared]).await;
    fail(breaker).await;
    loop {
        // Turned away until this replica holds the lease; then its trial never returns.
        let _ = breaker
            .call(|| async {
                println!("trial started");
                std::future::pending::<Result<(), Error>>().await
            })
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn failures_spread_over_processes_open_the_breaker_in_each() {
    let Some(program) = programs::find("redis-server", "failures_spread_over_processes") else {
        return;
    };
    let server = Server::start(&program);
    // Three replicas, one failure each: none reaches `fail_max = 3` alone, the fleet does.
    let replicas: Vec<_> = (0..3)
        .map(|_| replica_process_of(&server, "fail-once").spawn().unwrap())
        .collect();
    for replica in replicas {
        let output = replica.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("replica saw open"),
            "a replica did not see the fleet's breaker open:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let after: i64 = stdout
            .split("replica saw open ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .expect("the replica says when");
        println!("a replica process saw the fleet's breaker open {after} ms after the opening");
        assert!(
            after <= OPEN_EVERYWHERE_MS,
            "a replica saw OPEN {after} ms after the opening (bound {OPEN_EVERYWHERE_MS} ms)"
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
    connected(&[&shared]).await;
    server.signal("STOP");
    calls_keep_their_latency(breaker, "Redis paused").await;
    assert_eq!(breaker.state(), CircuitState::Open, "it decided alone");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_breaker_judges_the_fleets_window() {
    let Some(program) = programs::find("redis-server", "a_window_breaker_judges_the_fleets_window")
    else {
        return;
    };
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    let server = Server::start(&program);
    let replica = |registry: &'static Registry| {
        let shared = SharedThroughRedis::builder(server.url())
            .namespace("fleet-window")
            .registry(registry)
            .resync(Duration::from_millis(100))
            .start()
            .unwrap();
        let breaker = CircuitBreaker::builder("payments")
            .window(20)
            .failure_rate(50)
            .min_calls(10)
            .reset(Duration::from_secs(30))
            .build_shared_in(registry)
            .unwrap();
        (shared, breaker)
    };
    let (shared_a, a) = replica(&A);
    let (shared_b, b) = replica(&B);
    connected(&[&shared_a, &shared_b]).await;
    // A's six successes reach the fleet's window at its next resync.
    for _ in 0..6 {
        a.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    }
    let reports = "fleet-window:breaker:payments:window";
    assert!(
        eventually(Duration::from_secs(5), || server
            .values(reports)
            .iter()
            .any(|report| report.starts_with("6 0 0 "))),
        "A reported its window: {:?}",
        server.values(reports)
    );
    // B fails alone, below its own `min_calls`: the fleet judges 6 + 5 calls, 5 failed (45%).
    for sent in 1..=5 {
        fail(b).await;
        assert!(
            eventually_async(Duration::from_secs(5), || shared_b.metrics().sent >= sent).await,
            "B's report {sent} landed: {:?}",
            shared_b.metrics()
        );
    }
    assert_eq!(a.state(), CircuitState::Closed);
    assert_eq!(b.state(), CircuitState::Closed);
    // The sixth makes 6 of 12: the fleet's window opens, though neither replica's would.
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
    assert!(
        server.values(reports).is_empty(),
        "the reports are cleared with the opening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_in_its_trial_does_not_wedge_half_open() {
    let Some(program) = programs::find("redis-server", "a_replica_killed_in_its_trial") else {
        return;
    };
    static REGISTRY: Registry = Registry::new();
    let server = Server::start(&program);
    let mut process = replica_process_of(&server, "hang-in-trial")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let (started, trial) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines() {
            if line.is_ok_and(|l| l.contains("trial started")) {
                let _ = started.send(());
            }
        }
    });
    let in_trial = trial.recv_timeout(Duration::from_secs(15));
    let _ = process.kill();
    let _ = process.wait();
    assert!(in_trial.is_ok(), "the replica process started its trial");
    let lease = server
        .command(&["PTTL", "fleet-killed:breaker:payments:trial"])
        .unwrap_or_default();
    assert_ne!(lease, "Int(-2)", "the dead replica's lease is held");
    // Another replica comes: the fleet is OPEN until the dead one's lease expires, then its
    // own trial closes the breaker.
    let (shared, breaker) = trial_replica(
        &REGISTRY,
        &server.url(),
        "fleet-killed",
        KILLED_LEASE,
        KILLED_RESET,
    );
    connected(&[&shared]).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "taken in from the fleet"
    );
    let started = Instant::now();
    let mut refused = 0;
    while breaker.state() != CircuitState::Closed {
        assert!(
            started.elapsed() < KILLED_LEASE + Duration::from_secs(5),
            "HALF_OPEN is wedged: {:?} {:?}",
            breaker.state(),
            shared.metrics()
        );
        if breaker.call(|| async { Ok::<_, Error>(()) }).await.is_err() {
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused > 0,
        "turned away while the dead replica's lease ran"
    );
    assert!(
        eventually(Duration::from_secs(5), || server
            .command(&["HGET", "fleet-killed:breaker:payments", "state"])
            .as_deref()
            == Some("closed")),
        "the fleet's breaker closed"
    );
}

#[test]
fn a_replica_whose_clock_runs_an_hour_ahead_half_opens_when_the_fleet_does() {
    let Some(program) = programs::find("redis-server", "a_replica_whose_clock_runs_ahead") else {
        return;
    };
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    const RESET: Duration = Duration::from_secs(1);
    const LEASE: Duration = Duration::from_secs(1);
    let server = Server::start(&program);
    let url = server.url();
    let (ready, b_ready) = std::sync::mpsc::channel();
    // B's tokio clock, which its breaker and its sharing read, is an hour ahead of A's.
    let skewed = std::thread::spawn({
        let url = url.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                tokio::time::pause();
                tokio::time::advance(Duration::from_secs(3600)).await;
                tokio::time::resume();
                let (shared, b) = trial_replica(&B, &url, "fleet-skew", LEASE, RESET);
                connected(&[&shared]).await;
                ready.send(()).unwrap();
                assert!(
                    eventually_async(Duration::from_secs(5), || b.state() == CircuitState::Open)
                        .await,
                    "B follows A opening"
                );
                // When B's calls run again: once the fleet half-opened (B's trial, or A's
                // closing the breaker).
                loop {
                    let ran = b.call(|| async { Ok::<_, Error>(Instant::now()) }).await;
                    if let Ok(at) = ran {
                        return at;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        }
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let opened = runtime.block_on(async {
        let (shared, a) = trial_replica(&A, &url, "fleet-skew", LEASE, RESET);
        connected(&[&shared]).await;
        b_ready.recv_timeout(Duration::from_secs(10)).unwrap();
        let opened = Instant::now();
        fail(a).await;
        // A calls too, so that its trial closes the breaker when it holds the lease.
        while a.state() != CircuitState::Closed && opened.elapsed() < Duration::from_secs(10) {
            let _ = a.call(|| async { Ok::<_, Error>(()) }).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        opened
    });
    let ran = skewed.join().unwrap();
    let after = ran.duration_since(opened);
    assert!(
        after >= RESET && after < RESET + Duration::from_millis(1500),
        "B's calls ran again {after:?} after the opening, for a `reset` of {RESET:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_redis_gets_the_fleets_open_breaker_back() {
    let Some(program) = programs::find("redis-server", "a_flushed_redis_gets") else {
        return;
    };
    static A: Registry = Registry::new();
    static B: Registry = Registry::new();
    let server = Server::start(&program);
    let resync = Duration::from_millis(200);
    let (shared_a, a) = replica(&A, &server, "fleet-flushed", resync);
    let (shared_b, b) = replica(&B, &server, "fleet-flushed", resync);
    connected(&[&shared_a, &shared_b]).await;
    for _ in 0..3 {
        fail(a).await;
    }
    assert!(
        eventually_async(Duration::from_secs(5), || b.state() == CircuitState::Open).await,
        "B follows A opening"
    );
    let key = "fleet-flushed:breaker:payments";
    server.command(&["FLUSHALL"]);
    // At their next read, the replicas write back what they hold; neither closed meanwhile.
    assert!(
        eventually(Duration::from_secs(5), || server
            .command(&["HGET", key, "state"])
            .as_deref()
            == Some("open")),
        "written back"
    );
    let until: u64 = server
        .command(&["HGET", key, "open_until"])
        .and_then(|v| v.parse().ok())
        .unwrap();
    let now = server.time_ms();
    // What the fleet's deadline left: less than `reset` (30 s), not a lease more.
    assert!(
        until > now + 25_000 && until <= now + 30_500,
        "open until {until}, now {now}"
    );
    assert_eq!(a.state(), CircuitState::Open);
    assert_eq!(b.state(), CircuitState::Open);
    // The fleet goes on counting: closed by one, closed everywhere.
    a.reset();
    assert!(
        eventually_async(Duration::from_secs(5), || b.state() == CircuitState::Closed).await,
        "B follows A closing"
    );
}

#[test]
fn the_processes_of_a_fleet_run_one_trial_between_them() {
    let Some(program) = programs::find("redis-server", "the_processes_of_a_fleet_run_one_trial")
    else {
        return;
    };
    let server = Server::start(&program);
    // Three processes calling throughout, the breaker opened by the first: `half_open = 1`
    // trial for the fleet, not one per process.
    let replicas: Vec<_> = (0..3)
        .map(|i| {
            let mut command = replica_process_of(&server, "count-trials");
            if i == 0 {
                command.env(FIRST, "1");
            }
            command.spawn().unwrap()
        })
        .collect();
    let mut trials = 0;
    for replica in replicas {
        let output = replica.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let counted: u32 = stdout
            .split("trials ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "a replica process failed:\n{stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        trials += counted;
    }
    assert_eq!(trials, 1, "HALF_OPEN trials across the fleet's processes");
}
