//! The staunch tour: the chapter's resilient shop, in Rust, against a misbehaving upstream.
//!
//! `cargo run --example tour` runs a scripted scenario (healthy → failing → slow → down →
//! recovered) and prints what the shop's retries, breakers, timeouts and fallbacks did.
//! `cargo run --example tour -- --serve 127.0.0.1:8080` keeps both services running;
//! `--config examples/tour/staunch.toml` reads the shop's settings from a file first.
//! `--redis redis://127.0.0.1:6379` runs the scenario against two replicas of the shop (two
//! processes) whose breakers share their state through that Redis; with `--serve`, the shop
//! shares its breakers with every other one serving on the same Redis and `--namespace`.

#[path = "tour/fleet.rs"]
mod fleet;
#[path = "tour/scenario.rs"]
mod scenario;
#[path = "tour/shop.rs"]
mod shop;
#[path = "tour/upstream.rs"]
mod upstream;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::shop::{Settings, Shop};
use crate::upstream::Upstream;

/// Consecutive failures that open a breaker, and how long it stays open.
const FAIL_MAX: u32 = 5;
const RESET: Duration = Duration::from_secs(3);
/// How long the slow upstream takes: beyond every timeout of the shop.
const SLOW_LATENCY: Duration = Duration::from_secs(2);

const USAGE: &str =
    "usage: cargo run --example tour [-- [--config FILE] [--serve ADDR] [--redis URL]]

  (no arguments)   run the scripted scenario and print what happened
  --config FILE    apply a settings file (TOML, e.g. examples/tour/staunch.toml) at start,
                   with STAUNCH_<KIND>__<NAME>__<KEY> environment variables over it
  --serve ADDR     keep the shop running at ADDR (e.g. 127.0.0.1:8080) with its upstream
  --redis URL      share the breakers through Redis (e.g. redis://127.0.0.1:6379): the
                   scenario runs against two replicas of the shop, in two processes; with
                   --serve, the shop shares with every shop serving on that Redis
  --namespace NS   the Redis keys' prefix with --serve (by default staunch-tour)
  --upstream URL   with --serve, call that upstream rather than starting one";

/// What the command line asked for.
#[derive(Default)]
struct Options {
    config: Option<String>,
    serving: Option<String>,
    redis: Option<String>,
    namespace: Option<String>,
    upstream: Option<String>,
    /// Replica B of a `--redis` scenario: prints its URL, logs to stderr.
    replica: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = Options::default();
    let mut rest = args.iter().map(String::as_str);
    let usage = || {
        eprintln!("{USAGE}");
        ExitCode::from(2)
    };
    while let Some(arg) = rest.next() {
        let slot = match arg {
            "--config" => &mut options.config,
            "--serve" => &mut options.serving,
            "--redis" => &mut options.redis,
            "--namespace" => &mut options.namespace,
            "--upstream" => &mut options.upstream,
            "--replica" => {
                options.replica = true;
                continue;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        };
        match rest.next() {
            Some(value) if slot.is_none() && !value.starts_with("--") => {
                *slot = Some(value.to_owned());
            }
            _ => return usage(),
        }
    }
    // These shape a served shop only.
    if options.serving.is_none()
        && (options.namespace.is_some() || options.upstream.is_some() || options.replica)
    {
        return usage();
    }
    let result = match options.serving.clone() {
        None => scripted(&options).await,
        Some(addr) => match addr.parse::<SocketAddr>() {
            Ok(addr) => serve(addr, &options).await,
            Err(e) => Err(format!("--serve {addr}: {e}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tour: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the upstream (unless the shop calls `upstream_url`) and the shop (on `addr`),
/// returning the shop's URL and the upstream's. The settings file, if any, goes over the
/// shop's own settings.
async fn start(
    addr: SocketAddr,
    config: Option<&str>,
    upstream_url: Option<&str>,
) -> Result<(String, Option<Arc<Upstream>>), String> {
    Settings {
        fail_max: FAIL_MAX,
        reset: RESET,
    }
    .apply()
    .map_err(|e| format!("breaker settings: {e}"))?;
    if let Some(path) = config {
        shop::configure_from(path)?;
    }
    let (shop, upstream) = match upstream_url {
        Some(url) => (Shop::remote(url.to_owned()), None),
        None => {
            let upstream = Upstream::start(SLOW_LATENCY)
                .await
                .map_err(|e| format!("upstream: {e}"))?;
            (Shop::new(upstream.clone()), Some(upstream))
        }
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let router = shop::router(Arc::new(shop)).map_err(|e| format!("the shop's settings: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("tour: shop stopped: {e}");
        }
    });
    Ok((url, upstream))
}

async fn scripted(options: &Options) -> Result<(), String> {
    let config = options.config.as_deref();
    let log_path = std::env::temp_dir().join("staunch-tour.jsonl");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(Mutex::new(log))
        .init();
    // Each run under keys of its own, so that runs on one Redis do not meet; deleted at its end.
    let namespace = format!("staunch-tour-{}", std::process::id());
    let shared = match &options.redis {
        Some(redis) => Some(fleet::share(redis, &namespace).await?),
        None => None,
    };
    let (url, upstream) = start(SocketAddr::from(([127, 0, 0, 1], 0)), config, None).await?;
    let upstream = upstream.ok_or("the tour runs its upstream")?;
    let replica = match &options.redis {
        Some(redis) => Some(fleet::spawn(redis, &namespace, &upstream.url(), config).await?),
        None => None,
    };
    let mut shops = vec![url];
    shops.extend(replica.as_ref().map(|b| b.url.clone()));
    let log = log_path.display().to_string();
    let result = scenario::run(&shops, &upstream, &log, shared.as_ref()).await;
    drop(replica);
    if let Some(redis) = &options.redis {
        fleet::clean(redis, &namespace);
    }
    result
}

async fn serve(addr: SocketAddr, options: &Options) -> Result<(), String> {
    let logs = tracing_subscriber::fmt().json().with_current_span(true);
    if options.replica {
        logs.with_writer(std::io::stderr).init();
    } else {
        logs.init();
    }
    let namespace = options.namespace.as_deref().unwrap_or("staunch-tour");
    let _shared = match &options.redis {
        Some(redis) => Some(fleet::share(redis, namespace).await?),
        None => None,
    };
    let (url, _upstream) =
        start(addr, options.config.as_deref(), options.upstream.as_deref()).await?;
    if options.replica {
        println!("replica listening on {url}");
        // Replica A holds our stdin: it closes when A ends, however it ends.
        let a_gone = tokio::task::spawn_blocking(|| {
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        });
        tokio::select! {
            _ = a_gone => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return Ok(());
    }
    if let Some(redis) = &options.redis {
        eprintln!("breakers shared through {redis} under the namespace {namespace}\n");
    }
    eprintln!("dashboard: {url}/dashboard\nmetrics:   {url}/metrics\n");
    eprintln!(
        "shop listening on {url} (JSON logs below). Try:

  curl -i {url}/products/existent_product_123
  curl -i {url}/products/non_existent_product_456
  curl -i {url}/products/anything_else
  curl -i -X POST {url}/orders -H 'content-type: application/json' \\
       -d '{{\"account_id\": \"acc-1\", \"amount_needed\": 120, \"current_balance\": 20}}'
  curl -i -X POST {url}/items_validation -H 'content-type: application/json' -d '{{\"name\": \"\", \"price\": -5}}'
  curl -i {url}/fetch-data-resiliently
  curl -i {url}/products_resilient/p1
  curl -i {url}/user_profile_page/u1
  curl -i {url}/user_info -H 'x-request-id: my-id-1' \\
       -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  curl -i {url}/resilience
  curl {url}/metrics         (Prometheus text; scrape it)
  open {url}/dashboard       (the live dashboard, in a browser)
  curl -i -X PUT {url}/resilience/products -H 'content-type: application/json' \\
       -d '{{\"fail_max\": 2, \"reset\": \"10s\"}}'
      (any named instance, any option of its attribute; a bad key answers 422 and changes nothing)
  curl -i -X PUT {url}/chaos -H 'content-type: application/json' -d '{{\"mode\": \"failing\"}}'
      (modes: healthy, failing, flaky, slow, down)

Ctrl-C stops it."
    );
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())
}
