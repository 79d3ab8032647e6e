//! The shop: the chapter's FastAPI service in Rust, each resilience pattern one attribute.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rand::Rng;
use serde_json::{Value, json};
use staunch::axum::{FieldError, Json, Valid, Validate};
use staunch::cache::Cached;
use staunch::reqwest::{HttpStatusError, ResponseExt};
use staunch::settings::{SettingError, Table};
use staunch::tower::{BulkheadLayer, TimeoutLayer};
use staunch::{Bulkhead, CircuitBreaker, ConfigError, Rejected};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;

use crate::upstream::{Mode, Upstream};

/// The shop's errors: business errors explained to the client (4xx), technical errors logged
/// in full and hidden from it (5xx).
#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(type_base = "https://shop.example/probs/")]
pub enum ShopError {
    #[error("Account {account_id} needs {needed} but only has {balance}.")]
    #[problem(
        status = 403,
        title = "Insufficient Funds",
        type = "insufficient-funds"
    )]
    InsufficientFunds {
        #[problem(extension)]
        account_id: String,
        #[problem(extension)]
        needed: f64,
        #[problem(extension)]
        balance: f64,
    },
    #[error("Product {0} not found.")]
    #[problem(status = 404, title = "Product Not Found", type = "product-not-found")]
    ProductNotFound(String),
    #[error("pricing engine crashed: {0}")]
    #[problem(status = 500)]
    Unexpected(#[source] std::io::Error),
    #[error("no profile of user {0} is available")]
    #[problem(
        status = 503,
        title = "Profile Unavailable",
        type = "profile-unavailable"
    )]
    ProfileUnavailable(String),
    #[error(transparent)]
    #[problem(transparent)]
    Upstream(#[from] HttpStatusError),
    #[error("{} setting(s) refused; nothing changed", errors.len())]
    #[problem(status = 422, title = "Invalid Settings", type = "invalid-settings")]
    InvalidSettings {
        /// Each bad key: where, which instance and key, and why.
        #[problem(extension)]
        errors: Vec<SettingError>,
    },
    #[error("upstream unreachable: {0}")]
    #[problem(status = 502)]
    Transport(#[from] reqwest::Error),
    #[error(transparent)]
    #[problem(transparent)]
    Rejected(#[from] Rejected),
}

/// Applies a settings file (and `STAUNCH_...` variables over it) to the shop's instances:
/// `--config FILE`. A bad file changes nothing and says what is wrong, where.
pub fn configure_from(path: &str) -> Result<(), String> {
    staunch::registry()
        .configure_from(path)
        .map_err(|e| format!("--config {path}: the settings were refused:\n{e}"))
}

/// Breaker settings, read at startup: the attributes name the breakers, this configures them.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub fail_max: u32,
    pub reset: Duration,
}

impl Settings {
    /// Creates the shop's named breakers. Call before serving.
    pub fn apply(self) -> Result<(), ConfigError> {
        for name in ["products", "profiles"] {
            CircuitBreaker::builder(name)
                .fail_max(self.fail_max)
                .reset(self.reset)
                .build_shared()?;
        }
        Ok(())
    }
}

/// The correlation of one request: its id and its W3C trace context.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub request_id: String,
    pub trace_id: String,
    /// The `traceparent` this service sends on: same trace, this service as the parent.
    pub traceparent: String,
}

pub struct Shop {
    client: reqwest::Client,
    upstream_url: String,
    /// The upstream this process runs, which `PUT /chaos` switches (another replica's shop
    /// calls it by URL).
    upstream: Option<Arc<Upstream>>,
}

impl Shop {
    pub fn new(upstream: Arc<Upstream>) -> Self {
        Self::calling(upstream.url(), Some(upstream))
    }

    /// A replica of the shop calling the upstream another process runs.
    pub fn remote(upstream_url: String) -> Self {
        Self::calling(upstream_url, None)
    }

    fn calling(upstream_url: String, upstream: Option<Arc<Upstream>>) -> Self {
        let client = reqwest::Client::builder()
            // A fresh connection per call, so that a downed upstream refuses at once.
            .pool_max_idle_per_host(0)
            .connect_timeout(Duration::from_millis(200))
            .build()
            .expect("a plain-HTTP client builds");
        Self {
            client,
            upstream_url,
            upstream,
        }
    }

    async fn get(&self, path: &str, correlation: &Correlation) -> Result<Value, ShopError> {
        let response = self
            .client
            .get(format!("{}{path}", self.upstream_url))
            .header("x-request-id", &correlation.request_id)
            .header("traceparent", &correlation.traceparent)
            .send()
            .await?
            .error_for_status_classified()?;
        Ok(response.json().await?)
    }

    /// Retries transient upstream failures with exponential backoff and full jitter; a 503's
    /// `Retry-After` lengthens the next sleep.
    #[staunch::retry(
        max = 4,
        backoff = "exp",
        base = "100ms",
        max_delay = "1s",
        jitter = "full"
    )]
    #[staunch::timeout("400ms")]
    pub async fn fetch_data(&self, correlation: &Correlation) -> Result<Value, ShopError> {
        self.get("/data", correlation).await
    }

    /// A product from the upstream, or from the catalogue copy when the upstream fails or the
    /// breaker is open.
    #[staunch::fallback(Self::catalogue_product)]
    #[staunch::circuit_breaker(name = "products")]
    #[staunch::bulkhead(name = "upstream", limit = 16, max_wait = "100ms")]
    #[staunch::timeout("300ms")]
    pub async fn product(&self, id: &str, correlation: &Correlation) -> Result<Value, ShopError> {
        self.get(&format!("/products/{id}"), correlation).await
    }

    async fn catalogue_product(
        &self,
        id: &str,
        _correlation: &Correlation,
        error: ShopError,
    ) -> Result<Value, ShopError> {
        tracing::warn!(error = %error, "serving the catalogue copy of a product");
        Ok(json!({"id": id, "name": format!("Product {id}"), "price": 19.99, "source": "fallback"}))
    }

    /// A product's price, hedged: when the upstream has not answered in 40 ms, a second request
    /// goes out beside the first, and whichever answers first wins.
    #[staunch::hedge(delay = "40ms", max = 2, name = "prices")]
    #[staunch::timeout("1s")]
    pub async fn price(&self, id: &str, correlation: &Correlation) -> Result<Value, ShopError> {
        self.get(&format!("/products/{id}"), correlation).await
    }

    /// The same price, one request at a time: the tour's comparison.
    #[staunch::timeout("1s")]
    pub async fn price_unhedged(
        &self,
        id: &str,
        correlation: &Correlation,
    ) -> Result<Value, ShopError> {
        self.get(&format!("/products/{id}"), correlation).await
    }

    /// A search of the catalogue, at most 20 a second (5 at once): a busier caller is told
    /// when to come back, with a 429 problem and `Retry-After`.
    #[staunch::rate_limit(rate = "20/s", burst = 5, name = "search")]
    pub async fn search(&self, query: &str) -> Result<Value, ShopError> {
        Ok(json!({"query": query, "hits": [], "source": "live"}))
    }

    /// A user's profile: cached for 2 s, made again after that, and when the upstream fails
    /// (or its breaker is open) the cached one is served for up to 10 minutes. A user with no
    /// profile cached gets a problem rather than the upstream's error.
    #[staunch::fallback(Self::no_profile)]
    #[staunch::cache(ttl = "2s", stale = "10m", key = Self::profile_key, name = "profile_pages")]
    #[staunch::circuit_breaker(name = "profiles")]
    #[staunch::timeout("300ms")]
    pub async fn profile(
        &self,
        user_id: &str,
        correlation: &Correlation,
    ) -> Result<Cached<Value>, ShopError> {
        let profile = self.get(&format!("/users/{user_id}"), correlation).await?;
        Ok(Cached::new(profile))
    }

    /// A profile is the user's: the request's correlation is not part of the key.
    fn profile_key(&self, user_id: &str, _correlation: &Correlation) -> String {
        user_id.to_owned()
    }

    async fn no_profile(
        &self,
        user_id: &str,
        _correlation: &Correlation,
        error: ShopError,
    ) -> Result<Cached<Value>, ShopError> {
        tracing::warn!(error = %error, "no profile to serve");
        Err(ShopError::ProfileUnavailable(user_id.to_owned()))
    }
}

/// Requests the whole shop serves at once, over every route: the rest are answered 503 at once.
pub const SHOP_LIMIT: usize = 8;
/// Every request is answered within this, whatever its route does.
pub const SHOP_DEADLINE: Duration = Duration::from_secs(3);

/// The shop's routes, with request ids, trace context, and panics, unknown paths and unknown
/// methods answered as problems; at most [`SHOP_LIMIT`] requests at once, each answered within
/// [`SHOP_DEADLINE`]. Beside them, `/metrics` (Prometheus) and `/dashboard`.
///
/// # Errors
/// The settings of the `shop` bulkhead, when a settings file made them contradict each other.
pub fn router(shop: Arc<Shop>) -> Result<Router, ConfigError> {
    // Before the first call: what happens earlier reaches no recorder.
    prometheus();
    let shop_limit = Bulkhead::builder(SHOP_LIMIT).name("shop").build_shared()?;
    let routes = Router::new()
        .route("/products/{id}", get(get_product))
        .route("/orders", post(create_order))
        .route("/items_validation", post(create_item))
        .route("/fetch-data-resiliently", get(fetch_data))
        .route("/products_resilient/{id}", get(resilient_product))
        .route("/user_profile_page/{user_id}", get(profile_page))
        .route("/prices/{id}", get(price))
        .route("/prices_hedged/{id}", get(hedged_price))
        .route("/search", get(search))
        .route("/user_info", get(user_info))
        .route("/resilience", get(resilience))
        .route("/resilience/{name}", put(change_settings))
        .route("/chaos", put(chaos))
        .with_state(shop);
    // Unknown paths and methods are problems too, as the chapter's FastAPI answers them.
    let routes = staunch::axum::problem_fallbacks(routes)
        // Limits of the whole server, not of one call: tower layers rather than attributes, so
        // that they hold for every route, whatever its handler does. Reading order, as with the
        // attributes: the bulkhead outside, the timeout inside it.
        .layer(TimeoutLayer::new(SHOP_DEADLINE))
        .layer(BulkheadLayer::new(shop_limit))
        .layer(staunch::axum::catch_panic())
        .layer(from_fn(correlate))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    // What operators watch, outside the shop's own limits: a scrape or a dashboard still
    // answers when the shop is full.
    Ok(routes
        .route("/metrics", get(metrics))
        .nest("/dashboard", staunch::axum::dashboard()))
}

/// The Prometheus recorder every counted call reaches, installed once for the process.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("staunch_call_duration_seconds".to_owned()),
                &[0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5],
            )
            .expect("buckets are given")
            .build_recorder();
        let handle = recorder.handle();
        // A process that installed a recorder of its own keeps it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Prometheus's text exposition of every staunch series: the per-thread counts are
/// published first.
async fn metrics() -> impl IntoResponse {
    staunch::metrics::publish();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus().render(),
    )
}

/// Reads `X-Request-ID` (set by tower-http when absent) and `traceparent` (generated when
/// absent or malformed), and runs the request in a span carrying both.
async fn correlate(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let incoming = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent);
    // The generator is per thread and not `Send`: use it before any await.
    let (trace_id, traceparent) = {
        let mut rng = rand::rng();
        let (trace_id, flags) = incoming.unwrap_or_else(|| {
            (
                format!("{:032x}", rng.random::<u128>() | 1),
                "01".to_owned(),
            )
        });
        let traceparent = format!("00-{trace_id}-{:016x}-{flags}", rng.random::<u64>() | 1);
        (trace_id, traceparent)
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = %trace_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    request.extensions_mut().insert(Correlation {
        request_id,
        trace_id,
        traceparent: traceparent.clone(),
    });
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request finished"));
    if let Ok(value) = HeaderValue::from_str(&traceparent) {
        response.headers_mut().insert("traceparent", value);
    }
    response
}

/// The trace id and flags of a valid W3C `traceparent` (version 00).
fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match parts.as_slice() {
        ["00", trace, parent, flags]
            if hex(trace, 32)
                && hex(parent, 16)
                && hex(flags, 2)
                && trace.bytes().any(|b| b != b'0')
                && parent.bytes().any(|b| b != b'0') =>
        {
            Some(((*trace).to_owned(), (*flags).to_owned()))
        }
        _ => None,
    }
}

async fn get_product(Path(id): Path<String>) -> Result<axum::Json<Value>, ShopError> {
    match id.as_str() {
        "existent_product_123" => Ok(axum::Json(
            json!({"product_id": id, "name": "Awesome Product"}),
        )),
        "non_existent_product_456" => Err(ShopError::ProductNotFound(id)),
        _ => Err(ShopError::Unexpected(std::io::Error::other(
            "division by zero pricing with db=10.0.3.7 user=shop password=s3cr3t",
        ))),
    }
}

#[derive(serde::Deserialize)]
struct OrderPayload {
    account_id: String,
    amount_needed: f64,
    current_balance: f64,
}

async fn create_order(Json(order): Json<OrderPayload>) -> Result<impl IntoResponse, ShopError> {
    if order.amount_needed > order.current_balance {
        return Err(ShopError::InsufficientFunds {
            account_id: order.account_id,
            needed: order.amount_needed,
            balance: order.current_balance,
        });
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"message": "Order placed successfully", "account_id": order.account_id})),
    ))
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Item {
    name: String,
    price: f64,
}

impl Validate for Item {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        if self.price <= 0.0 {
            errors.push(FieldError::new("price", "must be greater than 0"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

async fn create_item(Valid(item): Valid<Item>) -> impl IntoResponse {
    (StatusCode::CREATED, axum::Json(item))
}

async fn fetch_data(
    State(shop): State<Arc<Shop>>,
    Extension(correlation): Extension<Correlation>,
) -> Result<axum::Json<Value>, ShopError> {
    shop.fetch_data(&correlation).await.map(axum::Json)
}

async fn resilient_product(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
    Extension(correlation): Extension<Correlation>,
) -> Result<axum::Json<Value>, ShopError> {
    shop.product(&id, &correlation).await.map(axum::Json)
}

async fn price(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
    Extension(correlation): Extension<Correlation>,
) -> Result<axum::Json<Value>, ShopError> {
    shop.price_unhedged(&id, &correlation).await.map(axum::Json)
}

async fn hedged_price(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
    Extension(correlation): Extension<Correlation>,
) -> Result<axum::Json<Value>, ShopError> {
    shop.price(&id, &correlation).await.map(axum::Json)
}

async fn search(State(shop): State<Arc<Shop>>) -> Result<axum::Json<Value>, ShopError> {
    shop.search("shoes").await.map(axum::Json)
}

async fn profile_page(
    State(shop): State<Arc<Shop>>,
    Path(user_id): Path<String>,
    Extension(correlation): Extension<Correlation>,
) -> Result<axum::Json<Value>, ShopError> {
    let profile = shop.profile(&user_id, &correlation).await?;
    let freshness = profile.freshness();
    let source = if freshness.is_live() { "live" } else { "cache" };
    Ok(axum::Json(json!({
        "user": profile.into_inner(),
        "source": source,
        "stale": freshness.is_stale(),
    })))
}

async fn user_info(
    State(shop): State<Arc<Shop>>,
    Extension(correlation): Extension<Correlation>,
) -> Result<axum::Json<Value>, ShopError> {
    tracing::info!("fetching upstream info");
    let upstream = shop.get("/info", &correlation).await?;
    Ok(axum::Json(json!({
        "request_id": correlation.request_id,
        "trace_id": correlation.trace_id,
        "upstream": upstream,
    })))
}

async fn resilience() -> axum::Json<staunch::registry::Snapshot> {
    axum::Json(staunch::registry().snapshot())
}

/// Changes one named instance's settings while the shop runs: a JSON object of settings under
/// the attributes' option names. 200 with the settings now in force, or a 422 problem naming
/// each bad key (nothing changed).
async fn change_settings(
    Path(name): Path<String>,
    Json(table): Json<Table>,
) -> Result<axum::Json<Value>, ShopError> {
    let settings = staunch::registry()
        .change_instance(&name, &table)
        .map_err(|e| ShopError::InvalidSettings {
            errors: e.errors().to_vec(),
        })?;
    tracing::warn!(name, settings = %json!(settings), "settings changed at run time");
    Ok(axum::Json(json!({"name": name, "settings": settings})))
}

#[derive(serde::Deserialize)]
struct Chaos {
    mode: Mode,
}

async fn chaos(
    State(shop): State<Arc<Shop>>,
    Json(chaos): Json<Chaos>,
) -> Result<axum::Json<Value>, ShopError> {
    let upstream = shop.upstream.as_ref().ok_or_else(|| {
        ShopError::Unexpected(std::io::Error::other(
            "this replica calls another process's upstream: switch it there",
        ))
    })?;
    upstream
        .set_mode(chaos.mode)
        .await
        .map_err(ShopError::Unexpected)?;
    tracing::warn!(mode = ?chaos.mode, "upstream behaviour switched");
    Ok(axum::Json(json!({"mode": chaos.mode})))
}
