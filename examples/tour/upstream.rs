//! The misbehaving dependency: an axum service whose behaviour is switched at run time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the upstream behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Answers every request at once.
    Healthy,
    /// Answers 503 with `Retry-After: 1`.
    Failing,
    /// One request in three answers 503.
    Flaky,
    /// One request in four answers after `TAIL_LATENCY`, the others at once: a slow tail.
    Tail,
    /// Answers after `slow_latency`, beyond the callers' timeouts.
    Slow,
    /// Refuses connections: nothing listens on its port.
    Down,
}

/// How late the slow requests of `Tail` answer.
pub const TAIL_LATENCY: Duration = Duration::from_millis(250);

struct Behaviour {
    mode: Mutex<Mode>,
    slow_latency: Duration,
    requests: AtomicU64,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The upstream service on a fixed loopback port, stopped while `Down`.
pub struct Upstream {
    addr: SocketAddr,
    behaviour: Arc<Behaviour>,
    server: tokio::sync::Mutex<Option<Running>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Upstream {
    /// Starts a healthy upstream on 127.0.0.1 (a free port).
    pub async fn start(slow_latency: Duration) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let upstream = Arc::new(Self {
            addr: listener.local_addr()?,
            behaviour: Arc::new(Behaviour {
                mode: Mutex::new(Mode::Healthy),
                slow_latency,
                requests: AtomicU64::new(0),
            }),
            server: tokio::sync::Mutex::new(None),
        });
        *upstream.server.lock().await = Some(upstream.serve(listener));
        Ok(upstream)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received, whatever they were answered.
    pub fn requests(&self) -> u64 {
        self.behaviour.requests.load(Ordering::Relaxed)
    }

    /// Switches the behaviour; `Down` closes the port, any other mode opens it again.
    pub async fn set_mode(&self, mode: Mode) -> std::io::Result<()> {
        let mut server = self.server.lock().await;
        *lock(&self.behaviour.mode) = mode;
        match (mode, server.is_some()) {
            (Mode::Down, true) => {
                if let Some(running) = server.take() {
                    let _ = running.stop.send(());
                    let _ = running.task.await;
                }
            }
            (Mode::Down, false) | (_, true) => {}
            (_, false) => *server = Some(self.serve(TcpListener::bind(self.addr).await?)),
        }
        Ok(())
    }

    fn serve(&self, listener: TcpListener) -> Running {
        let app = Router::new()
            .route("/data", get(data))
            .route("/products/{id}", get(product))
            .route("/users/{id}", get(user))
            .route("/info", get(info))
            .with_state(self.behaviour.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Running { stop, task }
    }
}

/// Applies the current mode: `Some(response)` when the request must fail.
async fn misbehave(behaviour: &Behaviour) -> Option<Response> {
    let n = behaviour.requests.fetch_add(1, Ordering::Relaxed);
    let mode = *lock(&behaviour.mode);
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "upstream overloaded",
        )
            .into_response()
    };
    match mode {
        Mode::Failing => Some(unavailable()),
        Mode::Flaky if n % 3 == 0 => Some(unavailable()),
        Mode::Tail if n % 4 == 0 => {
            tokio::time::sleep(TAIL_LATENCY).await;
            None
        }
        Mode::Slow => {
            tokio::time::sleep(behaviour.slow_latency).await;
            None
        }
        _ => None,
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn data(State(b): State<Arc<Behaviour>>) -> Response {
    if let Some(failure) = misbehave(&b).await {
        return failure;
    }
    axum::Json(json!({"data": [1, 2, 3], "source": "upstream"})).into_response()
}

async fn product(State(b): State<Arc<Behaviour>>, Path(id): Path<String>) -> Response {
    if let Some(failure) = misbehave(&b).await {
        return failure;
    }
    axum::Json(json!({"id": id, "name": format!("Product {id}"), "price": 19.99, "source": "live"}))
        .into_response()
}

async fn user(State(b): State<Arc<Behaviour>>, Path(id): Path<String>) -> Response {
    if let Some(failure) = misbehave(&b).await {
        return failure;
    }
    axum::Json(json!({"user_id": id, "name": format!("User {id}"), "tier": "gold"})).into_response()
}

async fn info(State(b): State<Arc<Behaviour>>, headers: HeaderMap) -> Response {
    if let Some(failure) = misbehave(&b).await {
        return failure;
    }
    axum::Json(json!({
        "service": "upstream",
        "received_request_id": header_text(&headers, "x-request-id"),
        "received_traceparent": header_text(&headers, "traceparent"),
    }))
    .into_response()
}
