//! The rate limiter as a layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::{Answer, AnswerWith, Handle, Keep, Wrap, poll_ready};
use crate::rate_limit::Acquire;
use crate::{RateLimiter, Rejected};

/// Admits the calls of the services it makes at one limiter's rate.
///
/// The turn is taken in `call`, never in `poll_ready` (which is the inner service's), so a
/// readiness check that is never followed by a call spends nothing. A call whose turn is
/// free goes straight to the inner service; one whose turn is ahead, within the limiter's
/// `max_wait`, sleeps until it comes before the inner service sees the request (the only path
/// that allocates: the wait is boxed, and the inner service is cloned for it, as axum's routes
/// and most clients can be; wrap one that is not in `tower::buffer::Buffer`); any other is answered `Rejected::RateLimited` at once: for an
/// axum router, a 429 problem with `Retry-After`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use staunch::RateLimiter;
/// use staunch::tower::RateLimitLayer;
/// use tower::ServiceExt;
///
/// let search = RateLimiter::builder(1, Duration::from_secs(2)).name("docs-tower-search").build().unwrap();
/// let app = Router::new().route("/search", get(|| async { "[]" })).layer(RateLimitLayer::new(search));
/// let get = || axum::http::Request::get("/search").body(axum::body::Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(get()).await.unwrap().status(), 200);
/// let limited = app.oneshot(get()).await.unwrap();
/// assert_eq!(limited.status(), 429);
/// assert_eq!(limited.headers()["retry-after"], "2");
/// # }
/// ```
#[derive(Debug)]
pub struct RateLimitLayer<M = Keep> {
    limiter: Handle<RateLimiter>,
    answer: AnswerWith<M>,
}

impl RateLimitLayer {
    /// A layer admitting calls at the rate of `limiter`: one from `build_shared` (the
    /// registry's), or one from `build` (or an `Arc` of it) that every service of this layer
    /// shares.
    #[must_use]
    pub fn new(limiter: impl Into<Handle<RateLimiter>>) -> Self {
        Self {
            limiter: limiter.into(),
            answer: AnswerWith::default(),
        }
    }
}

impl<M> RateLimitLayer<M> {
    /// Answers in [`Error`](super::Error): for an inner service whose error cannot carry a
    /// rejection.
    #[must_use]
    pub fn wrap_errors(self) -> RateLimitLayer<Wrap> {
        RateLimitLayer {
            limiter: self.limiter,
            answer: AnswerWith::default(),
        }
    }
}

impl<M> Clone for RateLimitLayer<M> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            answer: self.answer,
        }
    }
}

impl<S, M> Layer<S> for RateLimitLayer<M> {
    type Service = RateLimitService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            answer: self.answer,
        }
    }
}

/// The service of a [`RateLimitLayer`].
#[derive(Debug)]
pub struct RateLimitService<S, M = Keep> {
    inner: S,
    limiter: Handle<RateLimiter>,
    answer: AnswerWith<M>,
}

impl<S: Clone, M> Clone for RateLimitService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            answer: self.answer,
        }
    }
}

impl<S, Req, M> Service<Req> for RateLimitService<S, M>
where
    S: Service<Req> + Clone,
    M: Answer<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = RateLimitFuture<S, Req, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        poll_ready::<S, Req, M>(&mut self.inner, cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let state = match self.limiter.turn() {
            Ok(None) => State::Running {
                future: self.inner.call(request),
            },
            Ok(Some(reserved)) => {
                let turn = Box::pin(Acquire::reserved(self.limiter.clone(), reserved));
                // The service made ready goes with the call; this one stays for the next.
                let clone = self.inner.clone();
                State::Waiting {
                    turn,
                    service: Some(std::mem::replace(&mut self.inner, clone)),
                    request: Some(request),
                }
            }
            Err(rejected) => State::Rejected {
                rejected: Some(rejected),
            },
        };
        RateLimitFuture {
            state,
            answer: self.answer,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`RateLimitService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct RateLimitFuture<S, Req, M>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
        answer: AnswerWith<M>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Running {
            #[pin]
            future: S::Future,
        },
        Waiting {
            // Dropped before its turn (the caller gave up), it gives the turn back. Boxed, so
            // that the future of a free turn stays small.
            turn: Pin<Box<Acquire<Handle<RateLimiter>>>>,
            service: Option<S>,
            request: Option<Req>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<S, Req, M> Future for RateLimitFuture<S, Req, M>
where
    S: Service<Req>,
    M: Answer<S::Response, S::Error>,
{
    type Output = Result<S::Response, M::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Running { future } => {
                    return future.poll(cx).map(|result| result.map_err(M::error));
                }
                StateProj::Waiting {
                    turn,
                    service,
                    request,
                } => {
                    if let Err(rejected) = std::task::ready!(turn.as_mut().poll(cx)) {
                        return Poll::Ready(M::rejected(rejected));
                    }
                    let (Some(mut service), Some(request)) = (service.take(), request.take())
                    else {
                        panic!("`RateLimitFuture` polled after completion");
                    };
                    let future = service.call(request);
                    state.set(State::Running { future });
                }
                StateProj::Rejected { rejected } => {
                    return Poll::Ready(M::rejected(
                        rejected
                            .take()
                            .expect("`RateLimitFuture` polled after completion"),
                    ));
                }
            }
        }
    }
}
