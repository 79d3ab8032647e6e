//! The bulkhead as a layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::{Answer, AnswerWith, Handle, Keep, Wrap, poll_ready};
use crate::bulkhead::Slot;
use crate::{Bulkhead, Rejected};

/// Runs at most `limit` calls of the services it makes at once, over one bulkhead.
///
/// A slot is taken in `call`, never in `poll_ready` (which is the inner service's), so a
/// readiness check that is never followed by a call holds nothing. A call that finds every
/// slot taken is answered `Rejected::BulkheadFull` at once, or, with `max_wait`, waits for a
/// slot in a fair queue before the inner service sees the request (the only path that
/// allocates: the wait is boxed, and the inner service is cloned for it). So the inner service
/// is `Clone`, as axum's routes and most clients are; wrap one that is not in
/// `tower::buffer::Buffer`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use staunch::Bulkhead;
/// use staunch::tower::BulkheadLayer;
/// use tower::ServiceExt;
///
/// let app = Router::new()
///     .route("/slow", get(|| async { tokio::time::sleep(Duration::from_millis(50)).await; "done" }))
///     .layer(BulkheadLayer::new(Bulkhead::new(1).unwrap()));
/// let get = || axum::http::Request::get("/slow").body(axum::body::Body::empty()).unwrap();
/// let running = tokio::spawn(app.clone().oneshot(get()));
/// tokio::task::yield_now().await; // the first call takes the slot
/// let turned_away = app.oneshot(get()).await.unwrap();
/// assert_eq!(turned_away.status(), 503);
/// assert_eq!(running.await.unwrap().unwrap().status(), 200);
/// # }
/// ```
#[derive(Debug)]
pub struct BulkheadLayer<M = Keep> {
    bulkhead: Handle<Bulkhead>,
    answer: AnswerWith<M>,
}

impl BulkheadLayer {
    /// A layer running calls in slots of `bulkhead`: one from `build_shared` (the registry's),
    /// or one from `build` or [`Bulkhead::new`] (or an `Arc` of it) that every service of this
    /// layer shares.
    #[must_use]
    pub fn new(bulkhead: impl Into<Handle<Bulkhead>>) -> Self {
        Self {
            bulkhead: bulkhead.into(),
            answer: AnswerWith::default(),
        }
    }
}

impl<M> BulkheadLayer<M> {
    /// Answers in [`Error`](super::Error): for an inner service whose error cannot carry a
    /// rejection.
    #[must_use]
    pub fn wrap_errors(self) -> BulkheadLayer<Wrap> {
        BulkheadLayer {
            bulkhead: self.bulkhead,
            answer: AnswerWith::default(),
        }
    }
}

impl<M> Clone for BulkheadLayer<M> {
    fn clone(&self) -> Self {
        Self {
            bulkhead: self.bulkhead.clone(),
            answer: self.answer,
        }
    }
}

impl<S, M> Layer<S> for BulkheadLayer<M> {
    type Service = BulkheadService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService {
            inner,
            bulkhead: self.bulkhead.clone(),
            answer: self.answer,
        }
    }
}

/// The service of a [`BulkheadLayer`].
#[derive(Debug)]
pub struct BulkheadService<S, M = Keep> {
    inner: S,
    bulkhead: Handle<Bulkhead>,
    answer: AnswerWith<M>,
}

impl<S: Clone, M> Clone for BulkheadService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            bulkhead: self.bulkhead.clone(),
            answer: self.answer,
        }
    }
}

impl<S, Req, M> Service<Req> for BulkheadService<S, M>
where
    S: Service<Req> + Clone,
    M: Answer<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = BulkheadFuture<S, Req, M>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        poll_ready::<S, Req, M>(&mut self.inner, cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let state = if let Some(slot) = Slot::try_take(&self.bulkhead) {
            State::Running {
                future: self.inner.call(request),
                slot: Some(slot),
            }
        } else if self.bulkhead.queues() {
            // The service made ready goes with the call; this one stays for the next.
            let clone = self.inner.clone();
            State::Waiting {
                wait: Box::pin(Slot::wait(self.bulkhead.clone())),
                service: Some(std::mem::replace(&mut self.inner, clone)),
                request: Some(request),
            }
        } else {
            State::Rejected {
                rejected: Some(self.bulkhead.full()),
            }
        };
        BulkheadFuture {
            state,
            answer: self.answer,
        }
    }
}

/// A wait for a slot, boxed: its future borrows the bulkhead it owns.
type Wait = Pin<Box<dyn Future<Output = Result<Slot<Handle<Bulkhead>>, Rejected>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of a [`BulkheadService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct BulkheadFuture<S, Req, M>
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
            // Freed when the call finishes, or with the future when it is dropped.
            slot: Option<Slot<Handle<Bulkhead>>>,
        },
        Waiting {
            wait: Wait,
            service: Option<S>,
            request: Option<Req>,
        },
        Rejected {
            rejected: Option<Rejected>,
        },
    }
}

impl<S, Req, M> Future for BulkheadFuture<S, Req, M>
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
                StateProj::Running { future, slot } => {
                    let result = match future.poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => return Poll::Pending,
                    };
                    *slot = None;
                    return Poll::Ready(match result {
                        Ok(response) => Ok(response),
                        Err(e) => Err(M::error(e)),
                    });
                }
                StateProj::Waiting {
                    wait,
                    service,
                    request,
                } => {
                    let slot = match wait.as_mut().poll(cx) {
                        Poll::Ready(Ok(slot)) => slot,
                        Poll::Ready(Err(rejected)) => {
                            return Poll::Ready(M::rejected(rejected));
                        }
                        Poll::Pending => return Poll::Pending,
                    };
                    let (Some(mut service), Some(request)) = (service.take(), request.take())
                    else {
                        panic!("`BulkheadFuture` polled after completion");
                    };
                    let future = service.call(request);
                    state.set(State::Running {
                        future,
                        slot: Some(slot),
                    });
                }
                StateProj::Rejected { rejected } => {
                    return Poll::Ready(M::rejected(
                        rejected
                            .take()
                            .expect("`BulkheadFuture` polled after completion"),
                    ));
                }
            }
        }
    }
}
