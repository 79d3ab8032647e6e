//! The tour's shop and upstream, driven in-process over real loopback HTTP.
//!
//! Breakers are process-wide, so only `breaker_opens_serves_fallbacks_and_closes_after_recovery`
//! calls the endpoints behind them; durations are short and request counts bounded.

#[path = "support/programs.rs"]
mod programs;
#[allow(dead_code)]
#[path = "../examples/tour/shop.rs"]
mod shop;
#[allow(dead_code)]
#[path = "../examples/tour/upstream.rs"]
mod upstream;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use staunch::CircuitState;

use crate::shop::{Settings, Shop};
use crate::upstream::Upstream;

/// A running shop and its upstream.
struct Services {
    shop: String,
    upstream: Arc<Upstream>,
    client: reqwest::Client,
}

async fn start() -> Services {
    let upstream = Upstream::start(Duration::from_secs(2)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop = format!("http://{}", listener.local_addr().unwrap());
    let router = shop::router(Arc::new(Shop::new(upstream.clone()))).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Services {
        shop,
        upstream,
        client: reqwest::Client::new(),
    }
}

struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Services {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.shop)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.shop)).json(&body))
            .await
    }

    async fn chaos(&self, mode: &str) {
        let answer = self
            .send(
                self.client
                    .put(format!("{}/chaos", self.shop))
                    .json(&json!({"mode": mode})),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
}

const PROBLEM: &str = "application/problem+json";

#[tokio::test]
async fn the_chapter_endpoints_answer_as_specified() {
    let s = start().await;

    let found = s.get("/products/existent_product_123").await;
    assert_eq!(
        (found.status, found.body["name"].as_str()),
        (200, Some("Awesome Product"))
    );

    let missing = s.get("/products/non_existent_product_456").await;
    assert_eq!(
        (missing.status, missing.content_type.as_str()),
        (404, PROBLEM)
    );
    assert_eq!(
        missing.body["type"],
        "https://shop.example/probs/product-not-found"
    );
    assert_eq!(
        missing.body["detail"],
        "Product non_existent_product_456 not found."
    );

    let broken = s.get("/products/anything_else").await;
    assert_eq!(
        (broken.status, broken.content_type.as_str()),
        (500, PROBLEM)
    );
    assert_eq!(broken.body["detail"], staunch::GENERIC_DETAIL);
    let text = broken.body.to_string();
    for secret in ["s3cr3t", "10.0.3.7", "division", "pricing"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    let poor = json!({"account_id": "acc-1", "amount_needed": 120.0, "current_balance": 20.0});
    let refused = s.post("/orders", poor).await;
    assert_eq!(
        (refused.status, refused.content_type.as_str()),
        (403, PROBLEM)
    );
    assert_eq!(
        refused.body,
        json!({
            "type": "https://shop.example/probs/insufficient-funds",
            "title": "Insufficient Funds",
            "status": 403,
            "detail": "Account acc-1 needs 120 but only has 20.",
            "account_id": "acc-1",
            "needed": 120.0,
            "balance": 20.0,
        })
    );
    let rich = json!({"account_id": "acc-1", "amount_needed": 5.0, "current_balance": 20.0});
    let placed = s.post("/orders", rich).await;
    assert_eq!(
        (placed.status, placed.body["message"].as_str()),
        (201, Some("Order placed successfully"))
    );

    let invalid = s
        .post("/items_validation", json!({"name": "", "price": -5}))
        .await;
    assert_eq!(
        (invalid.status, invalid.content_type.as_str()),
        (422, PROBLEM)
    );
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "price"]);
    let created = s
        .post("/items_validation", json!({"name": "pen", "price": 2.5}))
        .await;
    assert_eq!(created.status, 201);

    let bad_mode = s
        .send(
            s.client
                .put(format!("{}/chaos", s.shop))
                .json(&json!({"mode": "on fire"})),
        )
        .await;
    assert_eq!(
        (
            bad_mode.status,
            bad_mode.body["errors"][0]["field"].as_str()
        ),
        (422, Some("mode"))
    );

    let resilience = s.get("/resilience").await;
    assert_eq!(resilience.status, 200);
    assert!(resilience.body["instances"].is_array());
}

/// Collects the JSON log lines of the whole test binary: a global subscriber, since tracing
/// caches per call site whether anyone listens, which a thread-local one would race with.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

fn logs() -> &'static Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn correlation_ids_reach_the_upstream_the_response_and_every_log_line() {
    let logs = logs();
    let s = start().await;

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let answer = s
        .send(
            s.client
                .get(format!("{}/user_info", s.shop))
                .header("x-request-id", "req-7f3a")
                .header("traceparent", traceparent),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["x-request-id"], "req-7f3a");
    assert_eq!(answer.body["upstream"]["received_request_id"], "req-7f3a");
    let sent_on = answer.body["upstream"]["received_traceparent"]
        .as_str()
        .unwrap();
    assert!(
        sent_on.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "same trace: {sent_on}"
    );
    assert_ne!(
        sent_on, traceparent,
        "the shop is the parent of the upstream call"
    );

    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["path"] == "/user_info")
        .collect();
    let messages: Vec<&str> = of_request
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"fetching upstream info") && messages.contains(&"request finished"),
        "{log}"
    );
    for line in of_request {
        assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span"]["path"], "/user_info");
    }

    // Without either header, both are generated, echoed and propagated.
    let fresh = s.get("/user_info").await;
    let id = fresh.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(fresh.body["upstream"]["received_request_id"], id.as_str());
    let generated = fresh.body["upstream"]["received_traceparent"]
        .as_str()
        .unwrap();
    assert_eq!(
        generated.split('-').map(str::len).collect::<Vec<_>>(),
        [2, 32, 16, 2]
    );
    assert_eq!(&generated[3..35], fresh.body["trace_id"].as_str().unwrap());
}

#[tokio::test]
async fn breaker_opens_serves_fallbacks_and_closes_after_recovery() {
    Settings {
        fail_max: 3,
        reset: Duration::from_millis(300),
    }
    .apply()
    .unwrap();
    let s = start().await;
    let products = staunch::breaker("products").unwrap();

    // Healthy: live answers, and the profile cache fills.
    assert_eq!(s.get("/products_resilient/p1").await.body["source"], "live");
    assert_eq!(s.get("/user_profile_page/u1").await.body["source"], "live");

    // Failing: each failure is answered from the fallback; the third opens the breaker.
    s.chaos("failing").await;
    for _ in 0..3 {
        let answer = s.get("/products_resilient/p1").await;
        assert_eq!(
            (answer.status, answer.body["source"].as_str()),
            (200, Some("fallback"))
        );
    }
    assert_eq!(products.state(), CircuitState::Open);
    let calls = s.upstream.requests();
    let answer = s.get("/products_resilient/p2").await;
    assert_eq!(
        (answer.status, answer.body["source"].as_str()),
        (200, Some("fallback"))
    );
    assert_eq!(
        s.upstream.requests(),
        calls,
        "an open breaker does not call the upstream"
    );

    // Stale cache for a known user, a problem that leaks nothing for an unknown one.
    assert_eq!(s.get("/user_profile_page/u1").await.body["source"], "cache");
    let unknown = s.get("/user_profile_page/u9").await;
    assert_eq!(
        (unknown.status, unknown.content_type.as_str()),
        (503, PROBLEM)
    );
    assert!(!unknown.body.to_string().contains("127.0.0.1"));

    // Down: refused connections are failures too, still answered from the fallback.
    s.chaos("down").await;
    let answer = s.get("/products_resilient/p3").await;
    assert_eq!(
        (answer.status, answer.body["source"].as_str()),
        (200, Some("fallback"))
    );

    // Recovered: once `reset` has passed, a trial call closes the breaker.
    s.chaos("healthy").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if s.get("/products_resilient/p1").await.body["source"] == "live" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never let a trial through"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(products.state(), CircuitState::Closed);

    // Flaky: retry absorbs one failure in three.
    s.chaos("flaky").await;
    for _ in 0..3 {
        let answer = s.get("/fetch-data-resiliently").await;
        assert_eq!(
            (answer.status, answer.body["source"].as_str()),
            (200, Some("upstream"))
        );
    }

    // What the shop's `/metrics` says of all that, in Prometheus's text format.
    let response = s
        .client
        .get(format!("{}/metrics", s.shop))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let exposition = response.text().await.unwrap();
    let value = |series: &str| {
        exposition
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{series} in:\n{exposition}"))
    };
    let products_calls = |outcome: &str| {
        value(&format!(
            r#"staunch_calls_total{{name="products",layer="circuit_breaker",outcome="{outcome}"}}"#
        ))
    };
    assert!(
        products_calls("rejected") >= 1.0,
        "the open breaker refused calls"
    );
    assert!(products_calls("failure") >= 3.0);
    assert!(
        value(r#"staunch_circuit_transitions_total{name="products",from="closed",to="open"}"#)
            >= 1.0
    );
    assert_eq!(
        value(r#"staunch_circuit_state{name="products",state="closed"}"#),
        1.0
    );
    assert!(value(r#"staunch_retry_attempts_total{name="tour::shop::fetch_data"}"#) >= 3.0);
    assert_eq!(value(r#"staunch_bulkhead_max{name="shop"}"#), 8.0);
    if let Some(promtool) = programs::find("promtool", "the tour's /metrics passes promtool") {
        let report = programs::promtool_check(&promtool, &exposition);
        assert_eq!(report, "", "promtool check metrics:\n{exposition}");
    }
}

#[tokio::test]
async fn settings_change_live_through_the_shop_and_a_bad_change_is_a_422_problem() {
    staunch::CircuitBreaker::builder("tour-put")
        .fail_max(5)
        .build_shared()
        .unwrap();
    let s = start().await;
    let put = |body: Value| {
        s.send(
            s.client
                .put(format!("{}/resilience/tour-put", s.shop))
                .json(&body),
        )
    };
    let changed = put(json!({"fail_max": 2, "reset": "10s"})).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let in_force = json!({"mode": "enforce", "fail_max": 2, "reset": "10s", "half_open": 1});
    assert_eq!(changed.body["settings"], in_force);

    let refused = put(json!({"fail_max": 0, "rset": "1s"})).await;
    assert_eq!(
        (refused.status, refused.content_type.as_str()),
        (422, PROBLEM)
    );
    assert_eq!(
        refused.body["errors"],
        json!([
            {"kind": "circuit_breaker", "instance": "tour-put", "key": "fail_max", "reason": "must be at least 1, got 0"},
            {"kind": "circuit_breaker", "instance": "tour-put", "key": "rset", "reason": "unknown key `rset`; did you mean `reset`?"},
        ])
    );
    let snapshot = s.get("/resilience").await.body;
    let entry = snapshot["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "tour-put")
        .unwrap()
        .clone();
    assert_eq!(
        entry["settings"], in_force,
        "nothing changed, and the state shows its settings"
    );
    assert_eq!(entry["state"], "closed");

    let unknown = s
        .send(
            s.client
                .put(format!("{}/resilience/tour-pot", s.shop))
                .json(&json!({"fail_max": 2})),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("did you mean `tour-put`?"),
        "{:?}",
        unknown.body
    );
}

#[test]
fn a_bad_settings_file_stops_the_shop_with_where_and_why() {
    staunch::CircuitBreaker::builder("tour-file")
        .build_shared()
        .unwrap();
    let path = std::env::temp_dir().join(format!("staunch-tour-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[circuit_breaker.tour-file]\nfail_max = 3\nreste = \"1s\"\n",
    )
    .unwrap();
    let error = shop::configure_from(path.to_str().unwrap()).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        error.ends_with(&format!(
            "{}:3:1: circuit_breaker.tour-file.reste: unknown key `reste`; did you mean `reset`?",
            path.display()
        )),
        "{error}"
    );
    assert_eq!(
        staunch::breaker("tour-file").unwrap().config().trip(),
        staunch::circuit_breaker::Trip::Consecutive { fail_max: 5 },
        "nothing applied"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_answered_as_problems() {
    let s = start().await;
    let missing = s.get("/no/such/page").await;
    assert_eq!(
        (missing.status, missing.content_type.as_str()),
        (404, PROBLEM)
    );
    assert_eq!(
        missing.body,
        json!({"type": "about:blank", "title": "Not Found", "status": 404,
               "detail": "no route answers GET /no/such/page", "method": "GET", "path": "/no/such/page"})
    );
    let wrong = s
        .send(s.client.delete(format!("{}/resilience", s.shop)))
        .await;
    assert_eq!((wrong.status, wrong.content_type.as_str()), (405, PROBLEM));
    assert_eq!(wrong.body["detail"], "/resilience does not take DELETE");
    assert_eq!(wrong.headers["allow"], "GET,HEAD");
}

#[tokio::test]
async fn the_search_is_rate_limited_and_the_prices_are_hedged() {
    let s = start().await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(s.get("/search").await);
    }
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let limited: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    // Five at once, then one each 50 ms: eight quick requests get five or six turns.
    assert!((5..=6).contains(&ok), "{ok} let in");
    assert_eq!(ok + limited.len(), 8);
    let refused = limited[0];
    assert_eq!(refused.content_type, PROBLEM);
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(refused.body["status"], 429);
    assert_eq!(refused.body["title"], "Too Many Requests");

    s.chaos("tail").await;
    for i in 0..8 {
        let price = s.get(&format!("/prices_hedged/p{i}")).await;
        assert_eq!(
            (price.status, price.body["source"].as_str()),
            (200, Some("live"))
        );
    }
    s.chaos("healthy").await;
    let hedge = staunch::hedge("prices").expect("the shop's hedge");
    assert!(
        hedge.metrics().hedged >= 1,
        "a slow request of the tail was hedged"
    );
}
