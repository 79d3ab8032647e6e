//! staunch's policies as tower layers (feature `tower`): in axum routers over real loopback,
//! with `oneshot` where no network is needed, under `Buffer`, and stacked with typed errors.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode};
use axum::routing::{get, post};
use staunch::tower::{BulkheadLayer, CircuitBreakerLayer, Error, RetryLayer, TimeoutLayer};
use staunch::{
    Bulkhead, CircuitBreaker, CircuitState, Classify, Jitter, Rejected, Retry, RetryBudget,
};
use tokio::time::Instant;
use tower::buffer::Buffer;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

mod support;
use support::capture::Capture;

/// A dependency's error in a client stack: it carries staunch's rejections, and says which of
/// its own are worth retrying.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error("connection reset")]
    Reset,
    #[error("invalid request")]
    Invalid,
    #[error(transparent)]
    Rejected(#[from] Rejected),
}

impl Classify for Fault {
    fn is_transient(&self) -> bool {
        match self {
            Self::Reset => true,
            Self::Invalid => false,
            Self::Rejected(rejected) => rejected.is_transient(),
        }
    }
    fn is_failure(&self) -> bool {
        match self {
            Self::Reset => true,
            Self::Invalid => false,
            Self::Rejected(rejected) => rejected.is_failure(),
        }
    }
    fn rejection(&self) -> Option<&Rejected> {
        match self {
            Self::Rejected(rejected) => Some(rejected),
            Self::Reset | Self::Invalid => None,
        }
    }
}

fn get_request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn body_json(response: Response<Body>) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn breaker(name: &'static str, fail_max: u32) -> Arc<CircuitBreaker> {
    breaker_resetting(name, fail_max, Duration::from_secs(30))
}

fn breaker_resetting(name: &'static str, fail_max: u32, reset: Duration) -> Arc<CircuitBreaker> {
    Arc::new(
        CircuitBreaker::builder(name)
            .fail_max(fail_max)
            .reset(reset)
            .build()
            .unwrap(),
    )
}

fn quick_retry(max: u32) -> staunch::RetryPolicy {
    Retry::exponential()
        .max_attempts(max)
        .base(Duration::from_millis(100))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// Counts the calls that reached it.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU32>);

impl Counter {
    fn tick(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
    fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn the_routes_of_a_router_share_one_breaker_that_5xx_on_one_route_opens() {
    let breaker = CircuitBreaker::builder("tower-router-routes")
        .fail_max(3)
        .reset(Duration::from_secs(30))
        .build_shared()
        .unwrap();
    let app = Router::new()
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/ok", get(|| async { "ok" }))
        .layer(CircuitBreakerLayer::new(breaker));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{address}{path}")).send();

    // A caller's mistakes never count against the dependency.
    for _ in 0..10 {
        assert_eq!(get("/missing").await.unwrap().status(), 404);
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    for _ in 0..3 {
        assert_eq!(get("/fail").await.unwrap().status(), 500);
    }
    assert_eq!(breaker.state(), CircuitState::Open);

    // `/ok` never failed, and is turned away by the breaker `/fail` opened.
    let refused = get("/ok").await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["content-type"], staunch::PROBLEM_JSON);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29..=30).contains(&retry_after), "{retry_after}");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert_eq!(problem["title"], "Service Unavailable");
    assert_eq!(breaker.metrics().rejected, 1);
    server.abort();
}

#[tokio::test]
async fn errors_the_classifier_calls_the_callers_fault_never_open_the_breaker() {
    let breaker = breaker("tower-callers-fault", 2);
    let service = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .layer(service_fn(|(): ()| async { Err::<(), _>(Fault::Invalid) }));
    for _ in 0..10 {
        assert!(matches!(
            service.clone().oneshot(()).await,
            Err(Fault::Invalid)
        ));
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    let failing = CircuitBreakerLayer::new(Arc::clone(&breaker))
        .layer(service_fn(|(): ()| async { Err::<(), _>(Fault::Reset) }));
    for _ in 0..2 {
        let _ = failing.clone().oneshot(()).await;
    }
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test]
async fn a_layer_made_services_share_the_breaker_it_was_given() {
    // A breaker from `build`, not the registry's: every `Layer::layer` call shares it still.
    let layer = CircuitBreakerLayer::new(
        CircuitBreaker::builder("tower-one-layer")
            .fail_max(2)
            .build()
            .unwrap(),
    );
    let failing = layer.layer(service_fn(|(): ()| async { Err::<(), _>(Fault::Reset) }));
    let healthy = layer.layer(service_fn(|(): ()| async { Ok::<_, Fault>(()) }));
    for _ in 0..2 {
        let _ = failing.clone().oneshot(()).await;
    }
    assert!(matches!(
        healthy.oneshot(()).await,
        Err(Fault::Rejected(Rejected::CircuitOpen {
            name: "tower-one-layer",
            ..
        }))
    ));
}

#[tokio::test]
async fn poll_ready_is_ready_while_open_and_a_refused_call_never_reaches_the_inner_service() {
    let breaker = breaker("tower-ready-open", 1);
    breaker.force_open();
    let calls = Counter::default();
    let seen = calls.clone();
    let mut service =
        CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(service_fn(move |(): ()| {
            seen.tick();
            async { Ok::<_, Fault>(()) }
        }));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut refused = std::pin::pin!(service.call(()));
    // Answered at its first poll.
    assert!(matches!(
        refused.as_mut().poll(&mut cx),
        Poll::Ready(Err(Fault::Rejected(Rejected::CircuitOpen { .. })))
    ));
    assert_eq!(calls.get(), 0, "the inner service saw the refused request");
    breaker.force_closed();
    service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn a_buffered_stack_keeps_serving_through_an_open_breaker() {
    let breaker = breaker("tower-buffer", 2);
    let inner = service_fn(|fail: bool| async move {
        if fail {
            Err::<&'static str, BoxError>("dependency down".into())
        } else {
            Ok("ok")
        }
    });
    let service = Buffer::new(
        CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(inner),
        8,
    );
    for _ in 0..2 {
        assert!(service.clone().oneshot(true).await.is_err());
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    for _ in 0..20 {
        let refused = service.clone().oneshot(false).await.unwrap_err();
        assert!(
            matches!(
                refused.downcast_ref::<Rejected>(),
                Some(Rejected::CircuitOpen { .. })
            ),
            "{refused}"
        );
    }
    // The buffer's worker never saw a readiness error: it serves again once the breaker closes.
    breaker.force_closed();
    assert_eq!(service.oneshot(false).await.unwrap(), "ok");
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_and_a_timeout_answer_503_and_504_problems() {
    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(BulkheadLayer::new(Bulkhead::new(1).unwrap()));
    let first = tokio::spawn(app.clone().oneshot(get_request("/slow")));
    tokio::task::yield_now().await;
    let full = app.clone().oneshot(get_request("/slow")).await.unwrap();
    assert_eq!(full.status(), 503);
    assert_eq!(full.headers()["content-type"], staunch::PROBLEM_JSON);
    assert!(!full.headers().contains_key("retry-after"));
    assert_eq!(body_json(full).await["status"], 503);

    let timed_out = first.await.unwrap().unwrap();
    assert_eq!(timed_out.status(), 504);
    let problem = body_json(timed_out).await;
    assert_eq!(problem["title"], "Gateway Timeout");
    // The slot was given back with the timed-out call.
    let again = tokio::spawn(app.oneshot(get_request("/slow")));
    assert_eq!(again.await.unwrap().unwrap().status(), 504);
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_takes_no_slot_in_poll_ready_and_queues_with_max_wait() {
    let bulkhead = Arc::new(
        Bulkhead::builder(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let service =
        BulkheadLayer::new(Arc::clone(&bulkhead)).layer(service_fn(|busy: u64| async move {
            tokio::time::sleep(Duration::from_secs(busy)).await;
            Ok::<_, Fault>(busy)
        }));
    // Readiness checks that are never followed by a call hold nothing.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut abandoned: Vec<_> = (0..10).map(|_| service.clone()).collect();
    for checked in &mut abandoned {
        assert!(matches!(checked.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    }
    assert_eq!(bulkhead.metrics().in_flight, 0);

    let started = Instant::now();
    let first = tokio::spawn(service.clone().oneshot(2));
    tokio::task::yield_now().await;
    assert_eq!(bulkhead.metrics().in_flight, 1);
    // The second call waits for the first's slot, then runs.
    assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(first.await.unwrap().unwrap(), 2);
    // A call that waits longer than `max_wait` is turned away without reaching the service.
    let hog = tokio::spawn(service.clone().oneshot(60));
    tokio::task::yield_now().await;
    assert!(matches!(
        service.clone().oneshot(0).await,
        Err(Fault::Rejected(Rejected::BulkheadFull { limit: 1, .. }))
    ));
    hog.abort();
    let _ = hog.await;
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

/// A scripted upstream: answers `statuses` in turn (then 200), each with its `Retry-After`,
/// and notes when each call arrived.
fn scripted(
    statuses: &[(u16, Option<&'static str>)],
    arrivals: Arc<Mutex<Vec<Instant>>>,
) -> impl Service<Request<String>, Response = Response<Body>, Error = Infallible, Future: Send>
+ Clone
+ use<> {
    let script = Arc::new(Mutex::new(statuses.to_vec()));
    service_fn(move |_: Request<String>| {
        arrivals.lock().unwrap().push(Instant::now());
        let mut script = script.lock().unwrap();
        let (status, retry_after) = if script.is_empty() {
            (200, None)
        } else {
            script.remove(0)
        };
        let mut response = Response::builder().status(status);
        if let Some(after) = retry_after {
            response = response.header("retry-after", after);
        }
        let response = response.body(Body::empty()).unwrap();
        async move { Ok::<_, Infallible>(response) }
    })
}

#[tokio::test(start_paused = true)]
async fn retry_sends_again_on_transient_statuses_only_and_waits_as_retry_after_asks() {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let upstream = scripted(&[(503, Some("5")), (502, None)], Arc::clone(&arrivals));
    let service = RetryLayer::new(quick_retry(5)).layer(upstream);
    let started = Instant::now();
    let response = service
        .oneshot(Request::new("order".to_owned()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let waits: Vec<_> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|at| *at - started)
        .collect();
    // 5 s asked by the 503 (more than the 100 ms backoff), then the backoff's 200 ms.
    assert_eq!(
        waits,
        [
            Duration::ZERO,
            Duration::from_secs(5),
            Duration::from_millis(5200)
        ]
    );

    // A caller's mistake is answered at once.
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let upstream = scripted(&[(404, None)], Arc::clone(&arrivals));
    let service = RetryLayer::new(quick_retry(5)).layer(upstream);
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(arrivals.lock().unwrap().len(), 1);

    // Every attempt failing: the last response is returned as it is.
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let upstream = scripted(&[(503, None); 9], Arc::clone(&arrivals));
    let policy = quick_retry(3);
    let service = RetryLayer::new(policy).layer(upstream);
    assert_eq!(
        service
            .oneshot(Request::new(String::new()))
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(arrivals.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_does_not_send_again_what_a_breaker_inside_refused() {
    let breaker = breaker("tower-retry-over-open", 1);
    breaker.force_open();
    let policy = Arc::new(quick_retry(4));
    // An HTTP stack: the breaker's 503 problem is told from the upstream's own 503.
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let http = ServiceBuilder::new()
        .layer(RetryLayer::new(Arc::clone(&policy)))
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .service(scripted(&[], Arc::clone(&arrivals)));
    let refused = http.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(matches!(
        refused.extensions().get::<Rejected>(),
        Some(Rejected::CircuitOpen { .. })
    ));

    // An error type that calls every error transient, and says which carry a rejection: the
    // rejection is still not retried.
    #[derive(Debug)]
    struct Naive(Option<Rejected>);
    impl From<Rejected> for Naive {
        fn from(rejected: Rejected) -> Self {
            Self(Some(rejected))
        }
    }
    impl Classify for Naive {
        fn rejection(&self) -> Option<&Rejected> {
            self.0.as_ref()
        }
    }
    let calls = Counter::default();
    let seen = calls.clone();
    let naive = ServiceBuilder::new()
        .layer(RetryLayer::new(Arc::clone(&policy)))
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .service(service_fn(move |(): ()| {
            seen.tick();
            async { Err::<(), _>(Naive(None)) }
        }));
    assert!(matches!(
        naive.oneshot(()).await,
        Err(Naive(Some(Rejected::CircuitOpen { .. })))
    ));
    assert_eq!(calls.get(), 0);
    assert!(arrivals.lock().unwrap().is_empty());
    assert_eq!(policy.metrics().retries, 0);
}

#[tokio::test(start_paused = true)]
async fn an_empty_retry_budget_ends_the_call_with_a_rejection() {
    let budget = RetryBudget::builder("tower-budget")
        .ratio(0.0)
        .min_per_sec(0)
        .max_balance(1)
        .reject_when_exhausted(true)
        .build()
        .unwrap();
    let calls = Counter::default();
    let seen = calls.clone();
    let service = RetryLayer::new(quick_retry(5))
        .with_budget(budget)
        .layer(service_fn(move |(): ()| {
            seen.tick();
            async { Err::<(), _>(Fault::Reset) }
        }));
    assert!(matches!(
        service.oneshot(()).await,
        Err(Fault::Rejected(Rejected::BudgetExhausted {
            name: "tower-budget"
        }))
    ));
    // The one retry the budget held, then the rejection.
    assert_eq!(calls.get(), 2);
}

/// A request body that streams its one chunk, its length unknown.
struct Streamed(Option<Bytes>);

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|chunk| Ok(http_body::Frame::data(chunk))))
    }
}

#[test]
fn bodies_under_the_limit_are_retried_and_a_streaming_or_larger_one_is_sent_once_with_an_event() {
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(capture.clone(), || {
        runtime.block_on(async {
            let bodies = Arc::new(Mutex::new(Vec::new()));
            let seen = Arc::clone(&bodies);
            let app = Router::new()
                .route(
                    "/orders",
                    post(move |body: Bytes| {
                        seen.lock().unwrap().push(body);
                        async { StatusCode::SERVICE_UNAVAILABLE }
                    }),
                )
                .layer(RetryLayer::new(quick_retry(3)).buffer_bodies(1024));
            let post = |body: Body| Request::post("/orders").body(body).unwrap();

            let small = app
                .clone()
                .oneshot(post(Body::from("one order")))
                .await
                .unwrap();
            assert_eq!(small.status(), 503);
            assert_eq!(*bodies.lock().unwrap(), vec![Bytes::from("one order"); 3]);

            bodies.lock().unwrap().clear();
            let streamed = Body::new(Streamed(Some(Bytes::from("streamed"))));
            assert_eq!(
                app.clone().oneshot(post(streamed)).await.unwrap().status(),
                503
            );
            assert_eq!(*bodies.lock().unwrap(), [Bytes::from("streamed")]);

            bodies.lock().unwrap().clear();
            let large = Body::from(vec![b'x'; 2048]);
            assert_eq!(app.oneshot(post(large)).await.unwrap().status(), 503);
            assert_eq!(bodies.lock().unwrap().len(), 1);
        });
    });
    let events = capture.0.lock().unwrap().clone();
    let forgone: Vec<_> = events
        .iter()
        .filter(|event| {
            event
                .field("message")
                .is_some_and(|m| m.contains("not retried"))
        })
        .collect();
    assert_eq!(forgone.len(), 2, "{events:#?}");
    assert!(forgone.iter().all(|event| {
        event.target == "staunch"
            && event
                .field("reason")
                .is_some_and(|reason| reason.contains("1024 bytes"))
    }));
}

fn error_type<S: Service<u32, Error = E>, E>(_: &S) {}

#[tokio::test(start_paused = true)]
async fn a_three_layer_stack_has_one_error_type() {
    let breaker = breaker("tower-typed-stack", 3);
    // An error type that carries rejections keeps its own type through every layer.
    let slow = service_fn(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, Fault>(x)
    });
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(quick_retry(2)))
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(slow);
    error_type::<_, Fault>(&stack);
    // The timeout is transient (retried once) and a failure (counted twice by the breaker).
    assert!(matches!(
        stack.oneshot(7).await,
        Err(Fault::Rejected(Rejected::Timeout { .. }))
    ));
    assert_eq!(breaker.metrics().failures, 2);

    // One that cannot: the innermost layer wraps it, the others keep `Error<io::Error>`.
    let io = service_fn(|_: u32| async {
        Err::<u32, _>(std::io::Error::from(std::io::ErrorKind::NotFound))
    });
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(quick_retry(3)))
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .layer(TimeoutLayer::new(Duration::from_secs(1)).wrap_errors())
        .service(io);
    error_type::<_, Error<std::io::Error>>(&stack);
    // (A retry without a budget never rejects: alone, it keeps `io::Error`.)
    let alone = RetryLayer::new(quick_retry(3)).layer(service_fn(|x: u32| async move {
        Ok::<_, std::io::Error>(x)
    }));
    error_type::<_, std::io::Error>(&alone);
    match stack.oneshot(1).await {
        Err(Error::Inner(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    // And `BoxError` services keep `BoxError`.
    let boxed = service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(quick_retry(3)))
        .layer(BulkheadLayer::new(Bulkhead::new(4).unwrap()))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(boxed);
    error_type::<_, BoxError>(&stack);
    assert_eq!(stack.oneshot(3).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_gives_its_slot_back() {
    let breaker = breaker_resetting("tower-cancelled-trial", 1, Duration::from_secs(1));
    let service =
        CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(service_fn(|busy: u64| async move {
            tokio::time::sleep(Duration::from_secs(busy)).await;
            if busy == 0 {
                Err(Fault::Reset)
            } else {
                Ok(busy)
            }
        }));
    let _ = service.clone().oneshot(0).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    tokio::time::advance(Duration::from_secs(1)).await;
    let trial = tokio::spawn(service.clone().oneshot(60));
    tokio::task::yield_now().await;
    assert!(
        matches!(
            service.clone().oneshot(1).await,
            Err(Fault::Rejected(Rejected::CircuitOpen { .. }))
        ),
        "one trial at a time"
    );
    trial.abort();
    let _ = trial.await;
    assert_eq!(service.oneshot(1).await.unwrap(), 1);
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(
        Arc::strong_count(&breaker),
        1,
        "every service and trial gave it back"
    );
}

#[tokio::test]
async fn an_outer_breaker_ignores_an_inner_bulkheads_rejection() {
    /// Calls a rejection neither transient nor a failure, and says it is one: still no success
    /// for a breaker.
    #[derive(Debug)]
    enum Quiet {
        Down,
        Rejected(Rejected),
    }
    impl From<Rejected> for Quiet {
        fn from(rejected: Rejected) -> Self {
            Self::Rejected(rejected)
        }
    }
    impl Classify for Quiet {
        fn is_transient(&self) -> bool {
            matches!(self, Self::Down)
        }
        fn is_failure(&self) -> bool {
            matches!(self, Self::Down)
        }
        fn rejection(&self) -> Option<&Rejected> {
            match self {
                Self::Rejected(rejected) => Some(rejected),
                Self::Down => None,
            }
        }
    }
    let breaker = breaker("tower-ignores-full", 2);
    let service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .layer(BulkheadLayer::new(Bulkhead::new(1).unwrap()))
        .service(service_fn(|hold: bool| async move {
            if hold {
                std::future::pending::<()>().await;
            }
            Err::<(), _>(Quiet::Down)
        }));
    // A failure, then a rejection by the full bulkhead, then a failure: two failures in a row.
    assert!(matches!(
        service.clone().oneshot(false).await,
        Err(Quiet::Down)
    ));
    let held = tokio::spawn(service.clone().oneshot(true));
    tokio::task::yield_now().await;
    assert!(matches!(
        service.clone().oneshot(false).await,
        Err(Quiet::Rejected(Rejected::BulkheadFull { .. }))
    ));
    held.abort();
    let _ = held.await;
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert!(matches!(service.oneshot(false).await, Err(Quiet::Down)));
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "the rejection was counted as a success"
    );
}

#[tokio::test(start_paused = true)]
async fn a_closure_classifies_for_a_breaker_and_for_retry() {
    // A service whose responses say whether they failed, judged by closures.
    let breaker = breaker("tower-closure-classifier", 2);
    let calls = Counter::default();
    let seen = calls.clone();
    let stack = ServiceBuilder::new()
        .layer(
            RetryLayer::new(quick_retry(3))
                .classify(|result: &Result<&str, Fault>| matches!(result, Ok("busy"))),
        )
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)).classify(
            |result: &Result<&str, Fault>| match result {
                Ok("busy") => staunch::tower::Class::failure(true),
                Ok(_) | Err(_) => staunch::tower::Class::SUCCESS,
            },
        ))
        .service(service_fn(move |(): ()| {
            let n = seen.tick();
            async move { Ok::<_, Fault>(if n == 0 { "busy" } else { "done" }) }
        }));
    assert_eq!(stack.clone().oneshot(()).await.unwrap(), "done");
    assert_eq!(calls.get(), 2, "the busy answer was retried");
    assert_eq!(breaker.metrics().failures, 1, "and counted as a failure");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_date_is_honoured() {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(8));
    let at: &'static str = Box::leak(at.into_boxed_str());
    let upstream = scripted(&[(429, Some(at))], Arc::clone(&arrivals));
    let service = RetryLayer::new(quick_retry(3)).layer(upstream);
    let started = Instant::now();
    assert_eq!(
        service
            .oneshot(Request::new(String::new()))
            .await
            .unwrap()
            .status(),
        200
    );
    let waited = arrivals.lock().unwrap()[1] - started;
    // A date has whole seconds: between 7 and 8 s from now.
    assert!(
        (Duration::from_secs(7)..=Duration::from_secs(8)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test]
async fn request_timeouts_and_throttling_count_against_the_breaker() {
    for (status, name) in [(408, "tower-counts-408"), (429, "tower-counts-429")] {
        let breaker = breaker(name, 2);
        let app = Router::new()
            .route(
                "/",
                get(move || async move { StatusCode::from_u16(status).unwrap() }),
            )
            .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)));
        for _ in 0..2 {
            assert_eq!(
                app.clone()
                    .oneshot(get_request("/"))
                    .await
                    .unwrap()
                    .status(),
                status
            );
        }
        assert_eq!(breaker.state(), CircuitState::Open, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_inner_breakers_refusal_neither_closes_nor_reopens_an_outer_half_open_breaker() {
    let outer = breaker_resetting("tower-outer", 1, Duration::from_secs(1));
    let inner = breaker("tower-inner", 10);
    let stack = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&outer)))
        .layer(CircuitBreakerLayer::new(Arc::clone(&inner)))
        .service(service_fn(|fail: bool| async move {
            if fail { Err(Fault::Reset) } else { Ok(()) }
        }));
    let _ = stack.clone().oneshot(true).await;
    assert_eq!(outer.state(), CircuitState::Open);
    inner.force_open();
    tokio::time::advance(Duration::from_secs(1)).await;
    // The trial meets the inner breaker's refusal: the outer breaker learns nothing from it.
    assert!(matches!(
        stack.clone().oneshot(false).await,
        Err(Fault::Rejected(Rejected::CircuitOpen {
            name: "tower-inner",
            ..
        }))
    ));
    assert_eq!(outer.state(), CircuitState::HalfOpen);
    // And its trial slot is free again: the next call is a trial that closes it.
    inner.force_closed();
    stack.oneshot(false).await.unwrap();
    assert_eq!(outer.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_cancelled_while_queued_for_a_slot_leaves_none_taken() {
    let bulkhead = Arc::new(
        Bulkhead::builder(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let calls = Counter::default();
    let seen = calls.clone();
    let service = BulkheadLayer::new(Arc::clone(&bulkhead)).layer(service_fn(move |hold: bool| {
        seen.tick();
        async move {
            if hold {
                std::future::pending::<()>().await;
            }
            Ok::<_, Fault>(())
        }
    }));
    let holder = tokio::spawn(service.clone().oneshot(true));
    tokio::task::yield_now().await;
    let queued = tokio::spawn(service.clone().oneshot(false));
    tokio::task::yield_now().await;
    queued.abort();
    assert!(queued.await.unwrap_err().is_cancelled());
    holder.abort();
    let _ = holder.await;
    assert_eq!(bulkhead.metrics().in_flight, 0);
    assert_eq!(
        calls.get(),
        1,
        "the cancelled call never reached the service"
    );
    service.oneshot(false).await.unwrap();
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn an_outer_breaker_ignores_a_rejection_wrapped_in_error() {
    // The wrapped error of a service that cannot carry rejections: a full bulkhead inside is
    // still neither a success nor a failure to the breaker outside.
    let breaker = breaker("tower-ignores-wrapped", 2);
    let service = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)))
        .layer(BulkheadLayer::new(Bulkhead::new(1).unwrap()).wrap_errors())
        .service(service_fn(|hold: bool| async move {
            if hold {
                std::future::pending::<()>().await;
            }
            Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
        }));
    assert!(matches!(
        service.clone().oneshot(false).await,
        Err(Error::Inner(_))
    ));
    let held = tokio::spawn(service.clone().oneshot(true));
    tokio::task::yield_now().await;
    assert!(matches!(
        service.clone().oneshot(false).await,
        Err(Error::Rejected(Rejected::BulkheadFull { .. }))
    ));
    held.abort();
    let _ = held.await;
    assert!(matches!(service.oneshot(false).await, Err(Error::Inner(_))));
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "the rejection was counted as a success"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_router_answers_429_with_retry_after_and_its_routes_share_the_rate() {
    use staunch::RateLimiter;
    use staunch::tower::RateLimitLayer;
    let limiter = RateLimiter::builder(2, Duration::from_secs(1))
        .name("tower-rate-router")
        .build_shared()
        .unwrap();
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .route("/b", get(|| async { "b" }))
        .layer(RateLimitLayer::new(limiter));
    assert_eq!(
        app.clone()
            .oneshot(get_request("/a"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(get_request("/b"))
            .await
            .unwrap()
            .status(),
        200
    );
    let limited = app.clone().oneshot(get_request("/a")).await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["content-type"], staunch::PROBLEM_JSON);
    assert_eq!(limited.headers()["retry-after"], "1", "500 ms, rounded up");
    let problem = body_json(limited).await;
    assert_eq!(problem["status"], 429);
    assert_eq!(problem["title"], "Too Many Requests");
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(app.oneshot(get_request("/b")).await.unwrap().status(), 200);
    assert_eq!(limiter.metrics().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_layer_spends_nothing_in_poll_ready_and_a_waiting_call_gives_its_turn_back() {
    use staunch::RateLimiter;
    use staunch::tower::RateLimitLayer;
    let limiter = Arc::new(
        RateLimiter::builder(1, Duration::from_secs(1))
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let reached = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&reached);
    let service = RateLimitLayer::new(Arc::clone(&limiter)).layer(service_fn(move |n: u32| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, Fault>(n) }
    }));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    for mut checked in (0..10).map(|_| service.clone()) {
        assert!(matches!(checked.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    }
    assert_eq!(limiter.metrics().available, 1, "readiness spent no turn");

    let started = Instant::now();
    assert_eq!(service.clone().oneshot(1).await.unwrap(), 1);
    // The second waits a second for its turn, the inner service untouched until then.
    assert_eq!(service.clone().oneshot(2).await.unwrap(), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    // A caller that gives up while waiting hands its turn back: the next gets it.
    let mut abandoned = service.clone();
    let future = abandoned.call(3);
    drop(future);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        2,
        "the abandoned call never reached it"
    );
    let before = Instant::now();
    assert_eq!(service.clone().oneshot(4).await.unwrap(), 4);
    assert_eq!(
        before.elapsed(),
        Duration::from_secs(1),
        "the turn given back, not lost"
    );
    // A turn beyond `max_wait` is refused at once.
    let mut caller = service.clone();
    let queued: Vec<_> = (0..5).map(|n| caller.call(n)).collect();
    let refused = service.clone().oneshot(9).await;
    assert!(matches!(
        refused,
        Err(Fault::Rejected(Rejected::RateLimited { retry_in, .. })) if retry_in > Duration::from_secs(5)
    ));
    drop(queued);
}
