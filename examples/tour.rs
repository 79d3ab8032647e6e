//! The staunch tour: the chapter's resilient shop, in Rust, against a misbehaving upstream.
//!
//! `cargo run --example tour` runs a scripted scenario (healthy → failing → slow → down →
//! recovered) and prints what the shop's retries, breakers, timeouts and fallbacks did.
//! `cargo run --example tour -- --serve 127.0.0.1:8080` keeps both services running;
//! `--config examples/tour/staunch.toml` reads the shop's settings from a file first.

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

const USAGE: &str = "usage: cargo run --example tour [-- [--config FILE] [--serve ADDR]]

  (no arguments)   run the scripted scenario and print what happened
  --config FILE    apply a settings file (TOML, e.g. examples/tour/staunch.toml) at start,
                   with STAUNCH_<KIND>__<NAME>__<KEY> environment variables over it
  --serve ADDR     keep the shop running at ADDR (e.g. 127.0.0.1:8080) with its upstream";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = None;
    let mut serving = None;
    let mut rest = args.iter().map(String::as_str);
    while let Some(arg) = rest.next() {
        match (arg, rest.next()) {
            ("--config", Some(path)) => config = Some(path.to_owned()),
            ("--serve", Some(addr)) => serving = Some(addr.to_owned()),
            ("--help" | "-h", None) => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let result = match serving {
        None => scripted(config.as_deref()).await,
        Some(addr) => match addr.parse::<SocketAddr>() {
            Ok(addr) => serve(addr, config.as_deref()).await,
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

/// Starts the upstream and the shop (on `addr`), returning the shop's URL. The settings file,
/// if any, goes over the shop's own settings.
async fn start(addr: SocketAddr, config: Option<&str>) -> Result<(String, Arc<Upstream>), String> {
    Settings {
        fail_max: FAIL_MAX,
        reset: RESET,
    }
    .apply()
    .map_err(|e| format!("breaker settings: {e}"))?;
    if let Some(path) = config {
        shop::configure_from(path)?;
    }
    let upstream = Upstream::start(SLOW_LATENCY)
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let router = shop::router(Arc::new(Shop::new(upstream.clone())))
        .map_err(|e| format!("the shop's settings: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("tour: shop stopped: {e}");
        }
    });
    Ok((url, upstream))
}

async fn scripted(config: Option<&str>) -> Result<(), String> {
    let log_path = std::env::temp_dir().join("staunch-tour.jsonl");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(Mutex::new(log))
        .init();
    let (url, upstream) = start(SocketAddr::from(([127, 0, 0, 1], 0)), config).await?;
    scenario::run(&url, &upstream, &log_path.display().to_string()).await
}

async fn serve(addr: SocketAddr, config: Option<&str>) -> Result<(), String> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .init();
    let (url, _upstream) = start(addr, config).await?;
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
