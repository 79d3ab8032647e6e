//! The timeout as a layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::{Answer, AnswerWith, Keep, Wrap, poll_ready};
use crate::outcome::{Attempt, Failure};
use crate::timeout::{Guard, guard};

/// Drops a call of the services it makes once `after` has passed, answering
/// `Rejected::Timeout` (a 504 problem for an axum router). The timer is made only when the
/// call does not finish at its first poll.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use staunch::tower::TimeoutLayer;
/// use tower::ServiceExt;
///
/// let app = Router::new()
///     .route("/stuck", get(|| async { tokio::time::sleep(Duration::from_secs(60)).await; "late" }))
///     .layer(TimeoutLayer::new(Duration::from_secs(2)));
/// let request = axum::http::Request::get("/stuck").body(axum::body::Body::empty()).unwrap();
/// assert_eq!(app.oneshot(request).await.unwrap().status(), 504);
/// # }
/// ```
#[derive(Debug)]
pub struct TimeoutLayer<M = Keep> {
    after: Duration,
    answer: AnswerWith<M>,
}

impl TimeoutLayer {
    /// A layer giving every call `after` to finish.
    #[must_use]
    pub fn new(after: Duration) -> Self {
        Self {
            after,
            answer: AnswerWith::default(),
        }
    }
}

impl<M> TimeoutLayer<M> {
    /// Answers in [`Error`](super::Error): for an inner service whose error cannot carry a
    /// rejection.
    #[must_use]
    pub fn wrap_errors(self) -> TimeoutLayer<Wrap> {
        TimeoutLayer {
            after: self.after,
            answer: AnswerWith::default(),
        }
    }
}

impl<M> Clone for TimeoutLayer<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for TimeoutLayer<M> {}

impl<S, M> Layer<S> for TimeoutLayer<M> {
    type Service = TimeoutService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            after: self.after,
            answer: self.answer,
        }
    }
}

/// The service of a [`TimeoutLayer`].
#[derive(Debug)]
pub struct TimeoutService<S, M = Keep> {
    inner: S,
    after: Duration,
    answer: AnswerWith<M>,
}

impl<S: Clone, M> Clone for TimeoutService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            after: self.after,
            answer: self.answer,
        }
    }
}

impl<S, Req, M> Service<Req> for TimeoutService<S, M>
where
    S: Service<Req>,
    M: Answer<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = TimeoutFuture<S::Future, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        poll_ready::<S, Req, M>(&mut self.inner, cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        TimeoutFuture {
            guard: guard(
                self.after,
                Attempt {
                    body: self.inner.call(request),
                },
            ),
            answer: self.answer,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`TimeoutService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutFuture<F, M> {
        #[pin]
        guard: Guard<Attempt<F>>,
        answer: AnswerWith<M>,
    }
}

impl<F, Res, E, M> Future for TimeoutFuture<F, M>
where
    F: Future<Output = Result<Res, E>>,
    M: Answer<Res, E>,
{
    type Output = Result<Res, M::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().guard.poll(cx) {
            Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
            Poll::Ready(Err(Failure::Error(e))) => Poll::Ready(Err(M::error(e))),
            Poll::Ready(Err(Failure::Rejected(rejected))) => Poll::Ready(M::rejected(rejected)),
            Poll::Pending => Poll::Pending,
        }
    }
}
