//! Request bodies read into memory for a retry ([`RetryLayer::buffer_bodies`]), and the ones
//! sent once.
//!
//! [`RetryLayer::buffer_bodies`]: super::RetryLayer::buffer_bodies

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::request::Parts;
use http_body::Body;
use tower_service::Service;

use super::retry::{Replay, RetryFuture, Start};
use super::{Answer, Classifier};
use crate::problem::ProblemResponse;
use crate::{Classify, Problem};

/// The requests of a call whose body was read into memory, or of one sent once.
#[derive(Debug)]
pub enum BodyCopies {
    /// Every attempt gets these parts and this body.
    Buffered(Box<Parts>, Bytes),
    /// The body's size is unknown or above `limit`.
    Once {
        /// The limit it was above.
        limit: u64,
    },
}

impl<B: From<Bytes>> Replay<http::Request<B>> for BodyCopies {
    fn refusal(&self) -> Option<String> {
        match self {
            Self::Buffered(..) => None,
            Self::Once { limit } => Some(format!(
                "its body was streamed or longer than the {limit} bytes `buffer_bodies` keeps"
            )),
        }
    }

    fn again(&self) -> http::Request<B> {
        match self {
            Self::Buffered(parts, body) => {
                http::Request::from_parts((**parts).clone(), B::from(body.clone()))
            }
            Self::Once { .. } => unreachable!("a request sent once is not sent again"),
        }
    }
}

/// A request body being read into memory (boxed, to be polled without pinning the future).
pub(super) struct Reading<B> {
    parts: Option<Parts>,
    body: Pin<Box<B>>,
    read: Vec<u8>,
    /// The size the body announced: reading more is an error.
    announced: u64,
}

impl<B: Body> Reading<B> {
    pub(super) fn new(request: http::Request<B>) -> Self {
        let (parts, body) = request.into_parts();
        let announced = body.size_hint().upper().unwrap_or(u64::MAX);
        Self {
            parts: Some(parts),
            read: Vec::with_capacity(usize::try_from(announced).unwrap_or(0)),
            body: Box::pin(body),
            announced,
        }
    }
}

impl<B: Body> Reading<B> {
    /// The whole body, or `Err` when it failed or ran past the size it announced.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(Parts, Bytes), Unreadable>> {
        loop {
            match self.body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(Unreadable)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.read.extend_from_slice(chunk);
                            let read = chunk.len();
                            data.advance(read);
                        }
                    }
                    if self.read.len() as u64 > self.announced {
                        return Poll::Ready(Err(Unreadable));
                    }
                }
            }
        }
        let parts = self.parts.take().expect("a body is read once");
        Poll::Ready(Ok((parts, Bytes::from(std::mem::take(&mut self.read)))))
    }
}

/// A request body that failed while it was read for a retry: the request is not sent, and the
/// client gets a 400 problem.
#[derive(Debug, thiserror::Error)]
#[error("the request body could not be read")]
pub struct Unreadable;

impl Classify for Unreadable {
    fn is_transient(&self) -> bool {
        false
    }
    fn is_failure(&self) -> bool {
        false
    }
}

impl Problem for Unreadable {
    fn status(&self) -> u16 {
        400
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`RetryService`](super::RetryService) that buffers bodies.
    #[must_use = "futures do nothing unless polled"]
    pub struct BufferedRetryFuture<S, B, C, M>
    where
        S: Service<http::Request<B>>,
    {
        #[pin]
        state: Buffering<S, B, C, M>,
    }
}

pin_project_lite::pin_project! {
    #[project = BufferingProj]
    enum Buffering<S, B, C, M>
    where
        S: Service<http::Request<B>>,
    {
        Reading {
            reading: Reading<B>,
            rest: Option<Rest<S, C>>,
        },
        Sending {
            #[pin]
            retry: RetryFuture<S, http::Request<B>, BodyCopies, C, M>,
        },
    }
}

/// What the retry loop needs once the body is read.
struct Rest<S, C> {
    service: S,
    start: Start,
    classifier: C,
}

impl<S, B, C, M> BufferedRetryFuture<S, B, C, M>
where
    S: Service<http::Request<B>>,
{
    pub(super) fn sending(retry: RetryFuture<S, http::Request<B>, BodyCopies, C, M>) -> Self {
        Self {
            state: Buffering::Sending { retry },
        }
    }

    pub(super) fn reading(reading: Reading<B>, service: S, start: Start, classifier: C) -> Self {
        Self {
            state: Buffering::Reading {
                reading,
                rest: Some(Rest {
                    service,
                    start,
                    classifier,
                }),
            },
        }
    }
}

impl<S, B, ResBody, C, M> Future for BufferedRetryFuture<S, B, C, M>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    B: Body + From<Bytes>,
    ResBody: From<Vec<u8>>,
    C: Classifier<S::Response, S::Error>,
    M: Answer<S::Response, S::Error>,
{
    type Output = Result<S::Response, M::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let retry = match state.as_mut().project() {
                BufferingProj::Sending { retry } => return retry.poll(cx),
                BufferingProj::Reading { reading, rest } => {
                    let (parts, body) = match reading.poll_read(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(read)) => read,
                        Poll::Ready(Err(unreadable)) => {
                            return Poll::Ready(Ok(ProblemResponse::of(&unreadable).into_http()));
                        }
                    };
                    let Rest {
                        mut service,
                        start,
                        classifier,
                    } = rest
                        .take()
                        .expect("`BufferedRetryFuture` polled after completion");
                    let copies = BodyCopies::Buffered(Box::new(parts), body);
                    let first = service.call(copies.again());
                    RetryFuture::new(service, copies, start, classifier, first)
                }
            };
            state.set(Buffering::Sending { retry });
        }
    }
}
