//! Retry as a layer.

use std::any::type_name;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use super::body::{BodyCopies, BufferedRetryFuture, Reading};
use super::{
    Answer, AnswerWith, Budgeted, Class, Classifier, Handle, Pass, Standard, Wrap, poll_ready,
};
use crate::retry::{Attempts, Decision, Verdict, deadline};
use crate::{RetryBudget, RetryPolicy};

/// Sends a request again while the classifier says its result is transient, with the
/// policy's backoff, jitter, `max_elapsed` and `Retry-After` (bounded), as `#[retry]` does.
///
/// A retry needs a copy of the request: by default the request is `Clone` (an
/// `http::Request` whose body is, such as `Full<Bytes>`), and every attempt gets a clone. For an
/// `http::Request` whose body is not `Clone` (an axum server's), [`buffer_bodies`]
/// reads a body whose size is known and under a limit into memory first; a larger or streaming
/// body is sent once, and a transient failure of it is returned with a tracing event saying
/// why it was not retried.
///
/// Like tower's own `Retry`, each call clones the inner service (and the request), so the
/// retries can be sent after the first attempt's future owns the original.
///
/// [`buffer_bodies`]: RetryLayer::buffer_bodies
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use staunch::Retry;
/// use staunch::tower::RetryLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// let calls = Arc::new(AtomicU32::new(0));
/// let counted = Arc::clone(&calls);
/// let flaky = service_fn(move |id: u32| {
///     let n = counted.fetch_add(1, Ordering::Relaxed);
///     async move {
///         let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
///         if n < 2 { Err(tower::BoxError::from(reset)) } else { Ok(id) }
///     }
/// });
/// let policy = Retry::exponential().max_attempts(4).build().unwrap();
/// let service = RetryLayer::new(policy).layer(flaky);
/// assert_eq!(service.oneshot(7).await.unwrap(), 7);
/// assert_eq!(calls.load(Ordering::Relaxed), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct RetryLayer<C = Standard, M = Pass, Q = Cloned> {
    policy: Handle<RetryPolicy>,
    budget: Option<Handle<RetryBudget>>,
    classifier: C,
    replay: Q,
    answer: AnswerWith<M>,
}

/// Each attempt gets a clone of the request (`Req: Clone`): the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cloned;

/// An `http::Request`'s body of known size up to `limit` bytes is read into memory, so that
/// every attempt gets a copy; any other is sent once. Set by [`RetryLayer::buffer_bodies`].
#[derive(Debug, Clone, Copy)]
pub struct Buffered {
    limit: u64,
}

impl RetryLayer {
    /// A layer retrying with `policy`: one from `build_shared` (the registry's, whose settings
    /// change at run time), or one from `build` (or an `Arc` of it) that every service of this
    /// layer shares.
    #[must_use]
    pub fn new(policy: impl Into<Handle<RetryPolicy>>) -> Self {
        Self {
            policy: policy.into(),
            budget: None,
            classifier: Standard,
            replay: Cloned,
            answer: AnswerWith::default(),
        }
    }
}

impl<C, M, Q> RetryLayer<C, M, Q> {
    /// Retries the results `classifier` says are transient.
    #[must_use]
    pub fn classify<C2>(self, classifier: C2) -> RetryLayer<C2, M, Q> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            classifier,
            replay: self.replay,
            answer: self.answer,
        }
    }

    /// Answers in [`Error`](super::Error): for an inner service whose error cannot carry a
    /// rejection.
    #[must_use]
    pub fn wrap_errors(self) -> RetryLayer<C, Wrap, Q> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            classifier: self.classifier,
            replay: self.replay,
            answer: AnswerWith::default(),
        }
    }

    /// Spends retries from `budget`, which every call credits: with `reject_when_exhausted`, an
    /// empty budget ends a call with `Rejected::BudgetExhausted` (so the inner error type
    /// needs `From<Rejected>`, as `#[retry(budget = ..)]` does), otherwise with its last result.
    #[must_use]
    pub fn with_budget(self, budget: impl Into<Handle<RetryBudget>>) -> RetryLayer<C, M::Answer, Q>
    where
        M: Budgeted,
    {
        RetryLayer {
            policy: self.policy,
            budget: Some(budget.into()),
            classifier: self.classifier,
            replay: self.replay,
            answer: AnswerWith::default(),
        }
    }

    /// Retries `http::Request`s whose body is not `Clone`: a body whose size is known and at
    /// most `limit` bytes is read into memory before the first attempt (its trailers are not
    /// kept); a larger or streaming one is sent once. The inner service's request body must be
    /// buildable from `Bytes` (axum's `Body` is).
    #[must_use]
    pub fn buffer_bodies(self, limit: usize) -> RetryLayer<C, M, Buffered> {
        RetryLayer {
            policy: self.policy,
            budget: self.budget,
            classifier: self.classifier,
            replay: Buffered {
                limit: u64::try_from(limit).unwrap_or(u64::MAX),
            },
            answer: self.answer,
        }
    }
}

impl<C: Clone, M, Q: Clone> Clone for RetryLayer<C, M, Q> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy.clone(),
            budget: self.budget.clone(),
            classifier: self.classifier.clone(),
            replay: self.replay.clone(),
            answer: self.answer,
        }
    }
}

impl<S, C: Clone, M, Q: Clone> Layer<S> for RetryLayer<C, M, Q> {
    type Service = RetryService<S, C, M, Q>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`RetryLayer`].
#[derive(Debug)]
pub struct RetryService<S, C = Standard, M = Pass, Q = Cloned> {
    inner: S,
    layer: RetryLayer<C, M, Q>,
}

impl<S: Clone, C: Clone, M, Q: Clone> Clone for RetryService<S, C, M, Q> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, C: Clone, M, Q> RetryService<S, C, M, Q> {
    /// What a call keeps from its start: the budget credited, the deadline taken.
    fn start(&self) -> Start {
        if let Some(budget) = &self.layer.budget {
            budget.deposit();
        }
        Start {
            deadline: deadline(&self.layer.policy),
            policy: self.layer.policy.clone(),
            budget: self.layer.budget.clone(),
        }
    }

    /// The call's retry loop, its first attempt sent.
    fn retry<Req, P>(&self, service: S, replay: P, first: S::Future) -> RetryFuture<S, Req, P, C, M>
    where
        S: Service<Req>,
    {
        RetryFuture::new(
            service,
            replay,
            self.start(),
            self.layer.classifier.clone(),
            first,
        )
    }
}

/// What a call keeps from its start for its retries, if it makes any.
#[derive(Debug)]
pub(super) struct Start {
    policy: Handle<RetryPolicy>,
    budget: Option<Handle<RetryBudget>>,
    deadline: Option<u64>,
}

/// The retries of one call: what it kept from its start until an attempt fails, then their
/// state, out of line.
enum Retries {
    Unfailed(Start),
    Failed(Pin<Box<Retrying>>),
}

impl Retries {
    fn policy(&self) -> &RetryPolicy {
        match self {
            Self::Unfailed(start) => &start.policy,
            Self::Failed(retrying) => retrying.attempts.policy(),
        }
    }

    /// The policy's name, for the log.
    fn name(&self) -> &'static str {
        self.policy().name()
    }

    /// Counts the call's end: a failure, or not. A call whose retries started was retried.
    #[inline]
    fn ended(&self, failed: bool) {
        let retried = matches!(self, Self::Failed(_));
        if failed {
            self.policy().failed(retried);
        } else {
            self.policy().succeeded(retried);
        }
    }
}

impl<S, Req, C, M> Service<Req> for RetryService<S, C, M, Cloned>
where
    S: Service<Req> + Clone,
    Req: Clone,
    C: Classifier<S::Response, S::Error> + Clone,
    M: Answer<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = RetryFuture<S, Req, Copies<Req>, C, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        poll_ready::<S, Req, M>(&mut self.inner, cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let first = self.inner.call(request.clone());
        self.retry(self.inner.clone(), Copies(request), first)
    }
}

impl<S, B, ResBody, C, M> Service<http::Request<B>> for RetryService<S, C, M, Buffered>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone,
    B: http_body::Body + From<bytes::Bytes>,
    ResBody: From<Vec<u8>>,
    C: Classifier<S::Response, S::Error> + Clone,
    M: Answer<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = BufferedRetryFuture<S, B, C, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        poll_ready::<S, http::Request<B>, M>(&mut self.inner, cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let limit = self.layer.replay.limit;
        let fits = request
            .body()
            .size_hint()
            .upper()
            .is_some_and(|upper| upper <= limit);
        if !fits {
            let first = self.inner.call(request);
            let once = BodyCopies::Once { limit };
            return BufferedRetryFuture::sending(self.retry(self.inner.clone(), once, first));
        }
        // The service made ready reads the body first and sends it; this one stays.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        BufferedRetryFuture::reading(
            Reading::new(request),
            service,
            self.start(),
            self.layer.classifier.clone(),
        )
    }
}

/// How a retry gets the request of another attempt: [`Copies`] of a `Clone` request, or the
/// buffered parts and body of an `http::Request`. Named by the futures' types only; not
/// implemented outside this module.
pub trait Replay<Req> {
    /// Why the request cannot be sent again, if it cannot.
    fn refusal(&self) -> Option<String>;

    /// A copy of the request for another attempt; called only when there is no refusal.
    fn again(&self) -> Req;
}

/// Clones of a `Clone` request.
#[derive(Debug)]
pub struct Copies<Req>(Req);

impl<Req: Clone> Replay<Req> for Copies<Req> {
    fn refusal(&self) -> Option<String> {
        None
    }

    fn again(&self) -> Req {
        self.0.clone()
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`RetryService`]. Small while no attempt failed: the state of
    /// the retries (their settings, jitter and sleep) is made, out of line, at the first
    /// failure.
    #[must_use = "futures do nothing unless polled"]
    #[project = RetryFutureProj]
    pub struct RetryFuture<S, Req, P, C, M>
    where
        S: Service<Req>,
    {
        service: S,
        replay: P,
        classifier: C,
        retries: Retries,
        // `None` while the call waits to retry.
        #[pin]
        attempt: Option<S::Future>,
        answer: AnswerWith<M>,
    }
}

pin_project_lite::pin_project! {
    /// The retries of a call that failed once.
    struct Retrying {
        attempts: Attempts<Handle<RetryPolicy>, Handle<RetryBudget>>,
        #[pin]
        sleep: Sleep,
        // The sleep is running: the next attempt follows it.
        sleeping: bool,
    }
}

impl<S: Service<Req>, Req, P, C, M> RetryFuture<S, Req, P, C, M> {
    pub(super) fn new(
        service: S,
        replay: P,
        start: Start,
        classifier: C,
        first: S::Future,
    ) -> Self {
        Self {
            service,
            replay,
            classifier,
            retries: Retries::Unfailed(start),
            attempt: Some(first),
            answer: PhantomData,
        }
    }
}

impl<S, Req, P, C, M> Future for RetryFuture<S, Req, P, C, M>
where
    S: Service<Req>,
    P: Replay<Req>,
    C: Classifier<S::Response, S::Error>,
    M: Answer<S::Response, S::Error>,
{
    type Output = Result<S::Response, M::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(attempt) = this.attempt.as_mut().as_pin_mut() {
                let result = match attempt.poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => return Poll::Pending,
                };
                let class = this.classifier.classify(&result);
                if !class.transient {
                    this.retries.ended(result.is_err() || class.failure);
                    return Poll::Ready(answer::<M, _, _>(result));
                }
                this.attempt.set(None);
                if let Some(answered) = retry_or_answer(&mut this, result, class) {
                    return Poll::Ready(answered);
                }
            }
            match next_attempt(&mut this, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// After a transient failure: the answer, when the call ends with it; `None` when a retry
/// follows.
#[inline(never)]
fn retry_or_answer<S, Req, P, C, M>(
    this: &mut RetryFutureProj<'_, S, Req, P, C, M>,
    result: Result<S::Response, S::Error>,
    class: Class,
) -> Option<Result<S::Response, M::Error>>
where
    S: Service<Req>,
    P: Replay<Req>,
    M: Answer<S::Response, S::Error>,
{
    if let Some(reason) = this.replay.refusal() {
        tracing::info!(
            target: "staunch",
            retry = this.retries.name(),
            reason = %reason,
            "a transient failure was not retried: the request cannot be sent again"
        );
        this.retries.ended(true);
        return Some(answer::<M, _, _>(result));
    }
    let verdict = Verdict {
        retry: true,
        after: class.retry_after,
    };
    let decision = failed(this.retries, verdict, &Described(&result));
    if !matches!(decision, Decision::Wait(_)) {
        this.retries.ended(true);
    }
    match decision {
        Decision::Wait(_) => None,
        Decision::Return => Some(answer::<M, _, _>(result)),
        Decision::Reject(rejected) => Some(M::rejected(rejected)),
    }
}

/// Sleeps before the next attempt, waits for the service, and sends it.
#[inline(never)]
fn next_attempt<S, Req, P, C, M>(
    this: &mut RetryFutureProj<'_, S, Req, P, C, M>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), M::Error>>
where
    S: Service<Req>,
    P: Replay<Req>,
    M: Answer<S::Response, S::Error>,
{
    let Retries::Failed(retrying) = this.retries else {
        panic!("`RetryFuture` polled after completion");
    };
    let retrying = retrying.as_mut().project();
    if *retrying.sleeping {
        if retrying.sleep.poll(cx).is_pending() {
            return Poll::Pending;
        }
        *retrying.sleeping = false;
    }
    if let Err(e) = std::task::ready!(this.service.poll_ready(cx)) {
        // The attempt that could not be sent ends the call, as a failure.
        this.retries.ended(true);
        return Poll::Ready(Err(M::error(e)));
    }
    this.attempt
        .set(Some(this.service.call(this.replay.again())));
    Poll::Ready(Ok(()))
}

/// Takes in a failed attempt: the retries' state is made at the first, and a wait starts
/// their sleep. Out of line and not generic over the service: the success path stays small.
#[inline(never)]
fn failed(retries: &mut Retries, verdict: Verdict, error: &dyn fmt::Display) -> Decision {
    match retries {
        Retries::Failed(retrying) => {
            let retrying = retrying.as_mut().project();
            let decision = retrying.attempts.failed(verdict, error);
            if let Decision::Wait(delay) = decision {
                retrying.sleep.reset(tokio::time::Instant::now() + delay);
                *retrying.sleeping = true;
            }
            decision
        }
        Retries::Unfailed(start) => {
            let mut attempts =
                Attempts::started(start.policy.clone(), start.deadline, start.budget.clone());
            let decision = attempts.failed(verdict, error);
            if let Decision::Wait(delay) = decision {
                *retries = Retries::Failed(Box::pin(Retrying {
                    attempts,
                    sleep: tokio::time::sleep(delay),
                    sleeping: true,
                }));
            }
            decision
        }
    }
}

/// The inner service's result, in the layer's error type.
#[inline]
fn answer<M: Answer<Res, E>, Res, E>(result: Result<Res, E>) -> Result<Res, M::Error> {
    match result {
        Ok(response) => Ok(response),
        Err(e) => Err(M::error(e)),
    }
}

/// A failed attempt, for the retry log line.
struct Described<'a, Res, E>(&'a Result<Res, E>);

impl<Res, E> fmt::Display for Described<'_, Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(_) => write!(f, "a transient `{}`", type_name::<Res>()),
            Err(_) => write!(f, "a `{}`", type_name::<E>()),
        }
    }
}
