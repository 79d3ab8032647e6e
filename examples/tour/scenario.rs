//! The scripted tour: phases of upstream behaviour, a bounded burst of requests in each, and
//! a table of what the shop did about it.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use staunch::CircuitState;
use staunch::circuit_breaker::Transition;
use staunch::registry::Detail;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinSet;

use crate::fleet;
use crate::shop::{SHOP_DEADLINE, SHOP_LIMIT};
use crate::upstream::{Mode, Upstream};

/// Requests sent in each phase, and how many at once.
const REQUESTS: usize = 30;
const CONCURRENCY: usize = 6;

struct Phase {
    name: &'static str,
    mode: Mode,
    what: &'static str,
}

const PHASES: [Phase; 5] = [
    Phase {
        name: "healthy",
        mode: Mode::Healthy,
        what: "the upstream answers at once",
    },
    Phase {
        name: "failing",
        mode: Mode::Failing,
        what: "the upstream answers 503 with Retry-After: 1",
    },
    Phase {
        name: "slow",
        mode: Mode::Slow,
        what: "the upstream answers after 2 s, beyond every timeout",
    },
    Phase {
        name: "down",
        mode: Mode::Down,
        what: "nothing listens on the upstream's port",
    },
    Phase {
        name: "recovered",
        mode: Mode::Healthy,
        what: "the upstream is healthy again",
    },
];

/// What one request got.
struct Outcome {
    endpoint: Endpoint,
    status: u16,
    latency: Duration,
    source: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Product,
    Profile,
    Data,
}

impl Endpoint {
    fn path(self, i: usize) -> String {
        match self {
            Endpoint::Product => format!("/products_resilient/p{}", i % 7),
            Endpoint::Profile => format!("/user_profile_page/u{}", i % 4),
            Endpoint::Data => "/fetch-data-resiliently".to_owned(),
        }
    }
}

/// What a phase showed, summed up.
struct Report {
    outcomes: Vec<Outcome>,
    retries: u64,
    transitions: Vec<Transition>,
}

impl Report {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(o)).count()
    }

    fn percentile(&self, p: f64, f: impl Fn(&Outcome) -> bool) -> Option<Duration> {
        let mut latencies: Vec<Duration> = self
            .outcomes
            .iter()
            .filter(|o| f(o))
            .map(|o| o.latency)
            .collect();
        latencies.sort();
        let last = latencies.len().checked_sub(1)?;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let at = ((last as f64) * p).round() as usize;
        latencies.get(at).copied()
    }

    fn fallbacks(&self) -> usize {
        self.count(|o| matches!(o.source.as_deref(), Some("fallback" | "stale")))
    }
}

/// Runs the phases against `shops` (one, or two replicas sharing their breakers through
/// Redis, requests spread over them), then the single-shop demonstrations against the first.
pub async fn run(
    shops: &[String],
    upstream: &Arc<Upstream>,
    log_path: &str,
    shared: Option<&staunch::redis::SharedThroughRedis>,
) -> Result<(), String> {
    let shop_url = shops[0].as_str();
    let progress = std::io::stderr().is_terminal();
    let client = reqwest::Client::new();
    let mut transitions: Vec<broadcast::Receiver<Transition>> = ["products", "profiles"]
        .iter()
        .map(|name| {
            staunch::breaker(name)
                .map(|b| b.subscribe())
                .ok_or(format!("no breaker {name}"))
        })
        .collect::<Result<_, _>>()?;
    println!("staunch tour — a shop calling a misbehaving upstream, both on 127.0.0.1");
    println!(
        "  shop {shop_url}   upstream {}   JSON logs in {log_path}",
        upstream.url()
    );
    if let [_, b] = shops {
        println!(
            "  replica B {b} (another process): requests alternate between A and B, whose \
             breakers share their state through Redis"
        );
    }
    println!(
        "  dashboard {shop_url}/dashboard   metrics {shop_url}/metrics (live while this runs; \
         run with `-- --serve 127.0.0.1:8080` to watch the phases at leisure)\n"
    );
    let started = Instant::now();
    let mut total = 0;
    for (n, phase) in PHASES.iter().enumerate() {
        if phase.name == "recovered" {
            wait_for_reset(progress).await;
        }
        set_mode(&client, shop_url, phase.mode).await?;
        let retries_before = retries();
        let before = fleet_counts(&client, shops).await;
        let outcomes = burst(&client, shops, n + 1, phase.name, progress).await;
        let fleet = match (before, fleet_counts(&client, shops).await) {
            (Some(before), Some(after)) => fleet::explain(before, after, crate::FAIL_MAX),
            _ => None,
        };
        let report = Report {
            outcomes,
            retries: retries() - retries_before,
            transitions: transitions.iter_mut().flat_map(drain).collect(),
        };
        total += report.outcomes.len();
        print_phase(n + 1, phase, &report, fleet);
    }
    live_change(&client, shop_url).await?;
    server_limits(&client, shop_url).await?;
    rate_limited(&client, shop_url).await?;
    hedged(&client, shop_url).await?;
    print_summary(total, upstream.requests(), started.elapsed());
    if let Some(shared) = shared {
        let m = shared.metrics();
        println!(
            "   through Redis, replica A sent {} records (failures and changes of state; a \
             healthy call sends none), shed {}, and took in {} states from the fleet",
            m.sent, m.dropped, m.adopted
        );
    }
    Ok(())
}

/// Both replicas' counts of the breaker the phases show, when there are two.
async fn fleet_counts(client: &reqwest::Client, shops: &[String]) -> Option<[fleet::Counts; 2]> {
    let [a, b] = shops else { return None };
    Some([
        fleet::counts(client, a).await,
        fleet::counts(client, b).await,
    ])
}

/// A breaker retuned while the shop runs, through its own endpoint, and the effect: one
/// failing request now opens it. A bad change is refused whole.
async fn live_change(client: &reqwest::Client, shop_url: &str) -> Result<(), String> {
    println!("── live change ── a breaker retuned while the shop runs, no restart");
    let put = |body: Value| {
        client
            .put(format!("{shop_url}/resilience/products"))
            .json(&body)
            .send()
    };
    let response = put(serde_json::json!({"fail_max": 1}))
        .await
        .map_err(|e| format!("PUT /resilience/products: {e}"))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    println!(
        "   PUT /resilience/products {{\"fail_max\": 1}} → {status}, in force: {}",
        body["settings"]
    );
    set_mode(client, shop_url, Mode::Failing).await?;
    let answered = client
        .get(format!("{shop_url}{}", Endpoint::Product.path(1)))
        .send()
        .await
        .map_err(|e| format!("GET /products_resilient: {e}"))?;
    let state = staunch::breaker("products").map(|b| b.state());
    println!(
        "   one failing request → {} from the fallback; `products` is now {} (it took {} failures before)",
        answered.status().as_u16(),
        state.map_or("missing", state_name),
        crate::FAIL_MAX
    );
    set_mode(client, shop_url, Mode::Healthy).await?;
    let refused = put(serde_json::json!({"fail_max": 0, "rset": "1s"}))
        .await
        .map_err(|e| format!("PUT /resilience/products: {e}"))?;
    let status = refused.status().as_u16();
    let problem: Value = refused.json().await.unwrap_or(Value::Null);
    let reasons: Vec<String> = problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}: {}",
                e["key"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!(
        "   PUT /resilience/products {{\"fail_max\": 0, \"rset\": \"1s\"}} → {status}, nothing changed: {}",
        reasons.join("; ")
    );
    println!();
    Ok(())
}

/// The shop's own limits, tower layers on its router: a burst larger than the `shop` bulkhead
/// while the upstream is slow is partly turned away at once, with a 503 problem.
async fn server_limits(client: &reqwest::Client, shop_url: &str) -> Result<(), String> {
    let burst = SHOP_LIMIT + SHOP_LIMIT / 2;
    println!(
        "── tower layers ── the shop's router runs in staunch's BulkheadLayer (`shop`, {SHOP_LIMIT} requests at once) and TimeoutLayer ({} s): limits of the whole server, for every route",
        SHOP_DEADLINE.as_secs()
    );
    set_mode(client, shop_url, Mode::Slow).await?;
    let mut requests = JoinSet::new();
    for _ in 0..burst {
        let request = client.get(format!("{shop_url}{}", Endpoint::Data.path(0)));
        requests.spawn(async move {
            let started = Instant::now();
            let response = request.send().await.ok()?;
            let status = response.status().as_u16();
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes() == staunch::PROBLEM_JSON.as_bytes());
            Some((status, problem, started.elapsed()))
        });
    }
    let answers: Vec<_> = requests.join_all().await.into_iter().flatten().collect();
    set_mode(client, shop_url, Mode::Healthy).await?;
    let (turned_away, let_in): (Vec<_>, Vec<_>) = answers
        .iter()
        .partition(|(status, problem, _)| *status == 503 && *problem);
    let slowest =
        |answers: &[&(u16, bool, Duration)]| answers.iter().map(|(_, _, latency)| *latency).max();
    println!(
        "   {burst} requests at once while the upstream is slow → {} let in (the slowest answered in {}), {} turned away at once with a 503 problem (the slowest in {})",
        let_in.len(),
        ms(slowest(&let_in)),
        turned_away.len(),
        ms(slowest(&turned_away)),
    );
    println!();
    Ok(())
}

/// A burst against the rate-limited search: the burst's worth let in, the rest answered at
/// once with 429 problems saying when to come back.
async fn rate_limited(client: &reqwest::Client, shop_url: &str) -> Result<(), String> {
    const BURST: usize = 15;
    println!(
        "── rate limit ── /search runs under #[rate_limit(rate = \"20/s\", burst = 5)]: {BURST} requests at once"
    );
    let mut requests = JoinSet::new();
    for _ in 0..BURST {
        let request = client.get(format!("{shop_url}/search"));
        requests.spawn(async move {
            let response = request.send().await.ok()?;
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes() == staunch::PROBLEM_JSON.as_bytes());
            Some((response.status().as_u16(), problem, retry_after))
        });
    }
    let answers: Vec<_> = requests.join_all().await.into_iter().flatten().collect();
    let ok = answers.iter().filter(|(status, ..)| *status == 200).count();
    let limited: Vec<_> = answers
        .iter()
        .filter(|(status, problem, _)| *status == 429 && *problem)
        .collect();
    let retry_after = limited.iter().find_map(|(.., after)| after.clone());
    println!(
        "   → {ok} answered 200, {} answered 429 problems with Retry-After: {} (s); the limiter refused {} in all",
        limited.len(),
        retry_after.as_deref().unwrap_or("-"),
        staunch::rate_limiter("search").map_or(0, |l| l.metrics().rejected),
    );
    if ok + limited.len() != BURST {
        return Err(format!("the rate-limited burst answered {answers:?}"));
    }
    println!();
    Ok(())
}

/// A slow tail (one upstream request in four answers after 250 ms): the same prices fetched
/// plainly and through a hedge, and the p95 of each.
async fn hedged(client: &reqwest::Client, shop_url: &str) -> Result<(), String> {
    const CALLS: usize = 40;
    println!(
        "── hedging ── one upstream request in four answers after {} ms; /prices_hedged runs under #[hedge(delay = \"40ms\", max = 2)]",
        crate::upstream::TAIL_LATENCY.as_millis()
    );
    set_mode(client, shop_url, Mode::Tail).await?;
    let mut rows = Vec::new();
    for path in ["/prices", "/prices_hedged"] {
        let mut latencies = Vec::with_capacity(CALLS);
        for i in 0..CALLS {
            let started = Instant::now();
            let response = client
                .get(format!("{shop_url}{path}/p{i}"))
                .send()
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("GET {path} answered {}", response.status()));
            }
            latencies.push(started.elapsed());
        }
        latencies.sort();
        rows.push((path, latencies[CALLS / 2], latencies[CALLS * 95 / 100]));
    }
    set_mode(client, shop_url, Mode::Healthy).await?;
    println!("   {:<16} {:>10} {:>10}", "endpoint", "p50", "p95");
    for (path, p50, p95) in &rows {
        println!(
            "   {path:<16} {:>10} {:>10}",
            ms(Some(*p50)),
            ms(Some(*p95))
        );
    }
    let hedged = staunch::hedge("prices").map_or(0, |h| h.metrics().hedged);
    println!(
        "   → the hedge sent {hedged} second requests beside slow ones and answered the p95 in {} instead of {}",
        ms(Some(rows[1].2)),
        ms(Some(rows[0].2))
    );
    println!();
    Ok(())
}

async fn set_mode(client: &reqwest::Client, shop_url: &str, mode: Mode) -> Result<(), String> {
    let response = client
        .put(format!("{shop_url}/chaos"))
        .json(&serde_json::json!({ "mode": mode }))
        .send()
        .await
        .map_err(|e| format!("PUT /chaos: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("PUT /chaos answered {}", response.status()))
    }
}

/// Sends the phase's requests, `CONCURRENCY` at a time, showing progress.
async fn burst(
    client: &reqwest::Client,
    shops: &[String],
    n: usize,
    name: &str,
    progress: bool,
) -> Vec<Outcome> {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for i in 0..REQUESTS {
        let endpoint = [Endpoint::Product, Endpoint::Profile, Endpoint::Data][i % 3];
        // Spread over the replicas three requests (one per endpoint) at a time.
        let shop_url = &shops[(i / 3) % shops.len()];
        let url = format!("{shop_url}{}", endpoint.path(i));
        let (client, permits) = (client.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let start = Instant::now();
            let response = client.get(&url).send().await;
            let latency = start.elapsed();
            let (status, source) = match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    // A stale profile is the cache standing in for a failed call.
                    let source = if body["stale"] == true {
                        Some("stale")
                    } else {
                        body["source"].as_str()
                    };
                    (status, source.map(str::to_owned))
                }
                Err(_) => (0, None),
            };
            Outcome {
                endpoint,
                status,
                latency,
                source,
            }
        });
    }
    let mut outcomes = Vec::with_capacity(REQUESTS);
    while let Some(done) = tasks.join_next().await {
        if let Ok(outcome) = done {
            outcomes.push(outcome);
        }
        if !progress {
            continue;
        }
        let filled = outcomes.len() * 20 / REQUESTS;
        eprint!(
            "\r  phase {n}/5 {name:<9} [{}{}] {}/{REQUESTS}",
            "#".repeat(filled),
            ".".repeat(20 - filled),
            outcomes.len()
        );
        let _ = std::io::stderr().flush();
    }
    if progress {
        eprint!("\r{}\r", " ".repeat(60));
    }
    outcomes
}

/// The breakers let a trial through once their reset has passed since they last opened,
/// which was during the previous phase at the latest.
async fn wait_for_reset(progress: bool) {
    let deadline = Instant::now() + crate::RESET + Duration::from_millis(200);
    if !progress {
        tokio::time::sleep_until(deadline.into()).await;
        return;
    }
    while Instant::now() < deadline {
        let left = deadline - Instant::now();
        eprint!(
            "\r  waiting {:.1} s for the breakers' reset ...",
            left.as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    eprint!("\r{}\r", " ".repeat(60));
}

fn retries() -> u64 {
    staunch::registry()
        .snapshot()
        .instances
        .iter()
        .filter_map(|i| match &i.detail {
            Detail::Retry(metrics) => Some(metrics.retries),
            _ => None,
        })
        .sum()
}

fn drain(receiver: &mut broadcast::Receiver<Transition>) -> Vec<Transition> {
    std::iter::from_fn(|| receiver.try_recv().ok()).collect()
}

fn ms(d: Option<Duration>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) if d < Duration::from_millis(10) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        Some(d) if d < Duration::from_secs(1) => format!("{} ms", d.as_millis()),
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
    }
}

fn state_name(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half-open",
        CircuitState::ForcedOpen => "forced open",
    }
}

fn print_phase(n: usize, phase: &Phase, report: &Report, fleet: Option<String>) {
    let all = |_: &Outcome| true;
    println!("── phase {n}/5 · {} ── {}", phase.name, phase.what);
    println!("   requests   2xx   4xx   5xx  retries  fallbacks        p50        p95");
    println!(
        "   {:>8} {:>5} {:>5} {:>5} {:>8} {:>10} {:>10} {:>10}",
        report.outcomes.len(),
        report.count(|o| (200..300).contains(&o.status)),
        report.count(|o| (400..500).contains(&o.status)),
        report.count(|o| o.status >= 500 || o.status == 0),
        report.retries,
        report.fallbacks(),
        ms(report.percentile(0.5, all)),
        ms(report.percentile(0.95, all)),
    );
    // Each breaker's path through its states, e.g. `products closed→open→half-open→open`.
    let mut paths: Vec<(&str, String)> = Vec::new();
    for t in &report.transitions {
        match paths.iter_mut().find(|(name, _)| *name == t.name) {
            Some((_, path)) => path.push_str(&format!("→{}", state_name(t.to))),
            None => paths.push((
                t.name,
                format!("{}→{}", state_name(t.from), state_name(t.to)),
            )),
        }
    }
    if !paths.is_empty() {
        let paths: Vec<String> = paths
            .iter()
            .map(|(name, path)| format!("{name} {path}"))
            .collect();
        println!("   breakers: {}", paths.join(", "));
    }
    for line in explain(report).into_iter().chain(fleet) {
        println!("   → {line}");
    }
    println!();
}

/// What the user should notice, from what the phase measured.
fn explain(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    let opened: Vec<&str> = report
        .transitions
        .iter()
        .filter(|t| t.to == CircuitState::Open && t.from == CircuitState::Closed)
        .map(|t| t.name)
        .collect();
    let fast_fallback = report.percentile(0.0, |o| o.source.as_deref() == Some("fallback"));
    for name in &opened {
        lines.push(format!(
            "breaker `{name}` opened after {} failures in a row; calls now fail fast{} and are served from fallback",
            crate::FAIL_MAX,
            fast_fallback.map(|d| format!(" (fastest answer {})", ms(Some(d)))).unwrap_or_default(),
        ));
    }
    let closed: Vec<&str> = report
        .transitions
        .iter()
        .filter(|t| t.to == CircuitState::Closed)
        .map(|t| t.name)
        .collect();
    if !closed.is_empty() {
        lines.push(format!(
            "after the reset a trial call went through (half-open) and closed {}: traffic is live again",
            closed.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
        ));
    }
    let fresh = report.count(|o| o.source.as_deref() == Some("cache"));
    if fresh > 0 {
        let pages = if fresh == 1 { "page" } else { "pages" };
        lines.push(format!(
            "{fresh} profile {pages} answered from #[cache(ttl = \"2s\")] without calling the upstream"
        ));
    }
    let cached = report.count(|o| o.source.as_deref() == Some("stale"));
    if cached > 0 {
        let pages = if cached == 1 { "page" } else { "pages" };
        lines.push(format!(
            "{cached} profile {pages} came from the stale cache instead of failing"
        ));
    }
    let data = |o: &Outcome| o.endpoint == Endpoint::Data;
    let data_failed = report.count(|o| data(o) && o.status >= 500);
    if report.retries > 0 {
        lines.push(format!(
            "/fetch-data-resiliently retried {} times (exponential backoff, full jitter, Retry-After honoured; p95 {}); {} of {} calls still failed and answered a 5xx problem",
            report.retries,
            ms(report.percentile(0.95, data)),
            data_failed,
            report.count(data),
        ));
    }
    if lines.is_empty() && report.count(|o| (200..300).contains(&o.status)) == report.outcomes.len()
    {
        lines.push("every request was answered live, with no retry and no fallback".to_owned());
    }
    lines
}

fn print_summary(total: usize, upstream_calls: u64, elapsed: Duration) {
    println!("── summary ──");
    println!(
        "   {total} requests in {:.1} s; the upstream received {upstream_calls} calls, and open breakers turned {} away",
        elapsed.as_secs_f64(),
        staunch::registry()
            .snapshot()
            .instances
            .iter()
            .map(|i| match &i.detail {
                Detail::CircuitBreaker(m) => m.rejected_total,
                _ => 0,
            })
            .sum::<u64>()
    );
    println!("   final state of every named instance:");
    for instance in staunch::registry().snapshot().instances {
        let detail = match instance.detail {
            Detail::CircuitBreaker(m) => format!(
                "circuit breaker  {:<9} failures {:>3}  rejected {:>3}  transitions {}",
                state_name(m.state),
                m.failures,
                m.rejected_total,
                m.transitions
            ),
            Detail::Bulkhead(m) => format!(
                "bulkhead         in flight {}/{}  rejected {}",
                m.in_flight, m.limit, m.rejected
            ),
            Detail::Retry(m) => format!(
                "retry            retries {}  exhausted {}",
                m.retries, m.exhausted
            ),
            Detail::RetryBudget(m) => {
                format!("retry budget     spent {}  refused {}", m.spent, m.refused)
            }
            Detail::RateLimit(m) => format!(
                "rate limiter     available {}  refused {}",
                m.available, m.rejected
            ),
            Detail::Hedge(m) => format!(
                "hedge            hedged {}  won by a hedge {}",
                m.hedged, m.won_by_hedge
            ),
            Detail::Cache(m) => format!(
                "cache            entries {}  misses {}  stale {}",
                m.entries, m.misses, m.stale
            ),
        };
        let name = instance.name.rsplit("::").next().unwrap_or(instance.name);
        println!("   {name:<13} {detail}");
    }
    println!(
        "\n   Keep it running and poke at it: cargo run --example tour -- --serve 127.0.0.1:8080"
    );
    println!(
        "   then open http://127.0.0.1:8080/dashboard, scrape http://127.0.0.1:8080/metrics, and \
         PUT /chaos to watch breakers change live"
    );
}
