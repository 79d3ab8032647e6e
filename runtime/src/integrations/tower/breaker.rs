//! The circuit breaker as a layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::{Answer, AnswerWith, Classifier, Handle, Keep, Standard, Wrap, poll_ready};
use crate::breaker::{Outcome, Ticket};
use crate::{CircuitBreaker, Rejected};

/// Runs every call of the services it makes through one circuit breaker.
///
/// `poll_ready` is the inner service's; while the breaker is open, `call` answers
/// `Rejected::CircuitOpen` at once and the inner service never sees the request. What counts
/// as a failure is the classifier's (`Standard` by default: 5xx, 408 and 429 responses, and the
/// errors `Classify` says are failures).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::{Router, http::StatusCode, routing::get};
/// use staunch::CircuitBreaker;
/// use staunch::tower::CircuitBreakerLayer;
/// use tower::ServiceExt;
///
/// let breaker = CircuitBreaker::builder("docs-tower-breaker").fail_max(2).build_shared().unwrap();
/// let app = Router::new()
///     .route("/down", get(|| async { StatusCode::BAD_GATEWAY }))
///     .route("/up", get(|| async { "ok" }))
///     .layer(CircuitBreakerLayer::new(breaker));
/// let get = |path| axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
/// for _ in 0..2 {
///     app.clone().oneshot(get("/down")).await.unwrap();
/// }
/// // Both routes share the breaker that `/down` opened.
/// let refused = app.oneshot(get("/up")).await.unwrap();
/// assert_eq!(refused.status(), 503);
/// assert!(refused.headers().contains_key("retry-after"));
/// # }
/// ```
#[derive(Debug)]
pub struct CircuitBreakerLayer<C = Standard, M = Keep> {
    breaker: Handle<CircuitBreaker>,
    classifier: C,
    answer: AnswerWith<M>,
}

impl CircuitBreakerLayer {
    /// A layer running calls through `breaker`: one from `build_shared` (the registry's), or
    /// one from `build` (or an `Arc` of it) that every service of this layer shares.
    #[must_use]
    pub fn new(breaker: impl Into<Handle<CircuitBreaker>>) -> Self {
        Self {
            breaker: breaker.into(),
            classifier: Standard,
            answer: AnswerWith::default(),
        }
    }
}

impl<C, M> CircuitBreakerLayer<C, M> {
    /// Counts the results `classifier` says are failures.
    #[must_use]
    pub fn classify<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2, M> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
            answer: self.answer,
        }
    }

    /// Answers in [`Error`](super::Error): for an inner service whose error cannot carry a
    /// rejection.
    #[must_use]
    pub fn wrap_errors(self) -> CircuitBreakerLayer<C, Wrap> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier: self.classifier,
            answer: AnswerWith::default(),
        }
    }
}

impl<C: Clone, M> Clone for CircuitBreakerLayer<C, M> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            answer: self.answer,
        }
    }
}

impl<S, C: Clone, M> Layer<S> for CircuitBreakerLayer<C, M> {
    type Service = CircuitBreakerService<S, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            answer: self.answer,
        }
    }
}

/// The service of a [`CircuitBreakerLayer`].
#[derive(Debug)]
pub struct CircuitBreakerService<S, C = Standard, M = Keep> {
    inner: S,
    breaker: Handle<CircuitBreaker>,
    classifier: C,
    answer: AnswerWith<M>,
}

impl<S: Clone, C: Clone, M> Clone for CircuitBreakerService<S, C, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            answer: self.answer,
        }
    }
}

impl<S, Req, C, M> Service<Req> for CircuitBreakerService<S, C, M>
where
    S: Service<Req>,
    C: Classifier<S::Response, S::Error> + Clone,
    M: Answer<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = CircuitBreakerFuture<S::Future, C, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        poll_ready::<S, Req, M>(&mut self.inner, cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let mut ticket = Ticket::new();
        let state = match ticket.admit(&self.breaker) {
            Ok(()) => State::Admitted {
                future: self.inner.call(request),
                ticket,
                breaker: self.breaker.clone(),
                classifier: self.classifier.clone(),
            },
            Err(retry_in_nanos) => State::Rejected {
                rejected: Some(self.breaker.rejection(retry_in_nanos)),
            },
        };
        CircuitBreakerFuture {
            state,
            answer: self.answer,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`CircuitBreakerService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CircuitBreakerFuture<F, C, M> {
        #[pin]
        state: State<F, C>,
        answer: AnswerWith<M>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Admitted {
            #[pin]
            future: F,
            // Settled once; dropped unsettled (a cancelled trial), it frees its trial slot.
            ticket: Ticket<Handle<CircuitBreaker>>,
            breaker: Handle<CircuitBreaker>,
            classifier: C,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<F, Res, E, C, M> Future for CircuitBreakerFuture<F, C, M>
where
    F: Future<Output = Result<Res, E>>,
    C: Classifier<Res, E>,
    M: Answer<Res, E>,
{
    type Output = Result<Res, M::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Admitted {
                future,
                ticket,
                breaker,
                classifier,
            } => {
                let result = match future.poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => return Poll::Pending,
                };
                let class = classifier.classify(&result);
                let outcome = if class.ignored {
                    Outcome::Ignored
                } else if class.failure {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                ticket.settle(breaker, outcome);
                Poll::Ready(match result {
                    Ok(response) => Ok(response),
                    Err(e) => Err(M::error(e)),
                })
            }
            StateProj::Rejected { rejected } => Poll::Ready(M::rejected(
                rejected
                    .take()
                    .expect("`CircuitBreakerFuture` polled after completion"),
            )),
        }
    }
}
