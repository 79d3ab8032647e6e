//! What a layer makes of the inner service's result: one classification for breakers and
//! retries, from `Classify` on errors and `ClassifyResponse` on responses.

use std::borrow::Cow;
use std::time::Duration;

use crate::{Classify, Rejected};

/// What one call's result means to a breaker and to retry.
///
/// ```
/// use std::time::Duration;
/// use staunch::tower::Class;
///
/// let throttled = Class::failure(true).with_retry_after(Duration::from_secs(3));
/// assert!(throttled.failure && throttled.transient);
/// assert_eq!(Class::SUCCESS, Class::of(&http::Response::new(())));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Class {
    /// Counts against a circuit breaker.
    pub failure: bool,
    /// Worth another attempt.
    pub transient: bool,
    /// The wait the dependency asked for before the next attempt.
    pub retry_after: Option<Duration>,
    /// Counts neither way with a breaker: a decision of a layer inside (a full bulkhead).
    pub ignored: bool,
}

impl Class {
    /// A success: counted as one, never retried.
    pub const SUCCESS: Self = Self {
        failure: false,
        transient: false,
        retry_after: None,
        ignored: false,
    };

    /// A failure, retried when `transient`.
    #[must_use]
    pub const fn failure(transient: bool) -> Self {
        Self {
            failure: true,
            transient,
            retry_after: None,
            ignored: false,
        }
    }

    /// Counts neither way with a breaker, and is not retried.
    pub const IGNORED: Self = Self {
        failure: false,
        transient: false,
        retry_after: None,
        ignored: true,
    };

    /// Worth another attempt, but not the dependency's failure (a breaker counts it a success).
    #[must_use]
    pub const fn transient() -> Self {
        Self {
            failure: false,
            transient: true,
            retry_after: None,
            ignored: false,
        }
    }

    /// As `value` classifies itself, or as the rejection it carries
    /// ([`Classify::rejection`]); its `Retry-After` is read only when it is a failure or
    /// transient (a success's headers are not searched).
    #[must_use]
    pub fn of<C: Classify + ?Sized>(value: &C) -> Self {
        if let Some(rejected) = value.rejection() {
            return Self::rejection(rejected);
        }
        let failure = value.is_failure();
        let transient = value.is_transient();
        Self {
            failure,
            transient,
            retry_after: if failure || transient {
                value.retry_after()
            } else {
                None
            },
            ignored: false,
        }
    }

    /// A rejection by a layer inside: counted by a breaker only when it is the dependency's
    /// doing (a timeout), retried when it may clear (a full bulkhead, a timeout).
    #[must_use]
    pub fn rejection(rejected: &Rejected) -> Self {
        let failure = rejected.is_failure();
        Self {
            failure,
            transient: rejected.is_transient(),
            retry_after: rejected.retry_after(),
            ignored: !failure,
        }
    }

    /// With a wait before the next attempt.
    #[must_use]
    pub const fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
}

/// Says what a call's result means: implemented by [`Standard`], [`ByError`] and every closure
/// `Fn(&Result<Res, E>) -> Class` (or `-> bool`: `true` for a failure worth retrying).
///
/// ```
/// use staunch::tower::{Class, Classifier};
///
/// // A gRPC-style service whose responses carry their own status.
/// struct Reply { code: u8 }
/// let by_code = |result: &Result<Reply, std::io::Error>| match result {
///     Ok(reply) if reply.code == 14 => Class::failure(true),
///     Ok(_) => Class::SUCCESS,
///     Err(e) => Class::of(e),
/// };
/// assert_eq!(by_code.classify(&Ok(Reply { code: 14 })), Class::failure(true));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify a `Result<{Res}, {E}>`",
    note = "the default classifier needs `{E}: staunch::Classify` and `{Res}: staunch::tower::ClassifyResponse`",
    note = "or classify with a closure: `.classify(|result: &Result<{Res}, {E}>| result.is_err())`"
)]
pub trait Classifier<Res, E> {
    /// The class of `result`.
    fn classify(&self, result: &Result<Res, E>) -> Class;
}

/// A closure returns a [`Class`], or a `bool`: `true` for a failure worth retrying.
impl<F, O, Res, E> Classifier<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> O,
    O: Into<Class>,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Class {
        self(result).into()
    }
}

/// `true` is a failure worth retrying, `false` a success: what a closure classifier that
/// returns a `bool` means.
///
/// ```
/// use staunch::tower::Class;
///
/// assert_eq!(Class::from(true), Class::failure(true));
/// assert_eq!(Class::from(false), Class::SUCCESS);
/// ```
impl From<bool> for Class {
    fn from(failed: bool) -> Self {
        if failed {
            Self::failure(true)
        } else {
            Self::SUCCESS
        }
    }
}

/// The default classifier: errors by [`Classify`], responses by [`ClassifyResponse`] (an
/// `http::Response` by its status and `Retry-After`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Standard;

impl<Res: ClassifyResponse, E: Classify> Classifier<Res, E> for Standard {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Class {
        match result {
            Ok(response) => response.class(),
            Err(e) => Class::of(e),
        }
    }
}

/// Errors by [`Classify`], and every response a success: for services whose responses say
/// nothing about the dependency's health.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByError;

impl<Res, E: Classify> Classifier<Res, E> for ByError {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Class {
        match result {
            Ok(_) => Class::SUCCESS,
            Err(e) => Class::of(e),
        }
    }
}

/// What a response (the `Ok` side of a service's result) says about the call, for
/// [`Standard`]. A success unless the type says otherwise: a response type of your own opts in
/// with an empty impl, or classifies itself.
///
/// ```
/// use staunch::tower::{Class, ClassifyResponse};
///
/// struct Reply { overloaded: bool }
/// impl ClassifyResponse for Reply {
///     fn class(&self) -> Class {
///         if self.overloaded { Class::failure(true) } else { Class::SUCCESS }
///     }
/// }
/// assert_eq!(Reply { overloaded: false }.class(), Class::SUCCESS);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say whether a call that answered it succeeded",
    note = "implement `staunch::tower::ClassifyResponse` for it (an empty impl makes every one a success), or classify with `.classify(staunch::tower::ByError)` or a closure"
)]
pub trait ClassifyResponse {
    /// The class of this response.
    fn class(&self) -> Class {
        Class::SUCCESS
    }
}

/// By status and `Retry-After` (the [`Classify`] impl of `http::Response`); a rejection that a
/// staunch layer answered as a problem response is that rejection.
impl<B> ClassifyResponse for http::Response<B> {
    #[inline]
    fn class(&self) -> Class {
        // A success's extensions are not searched.
        if self.status().is_success() {
            return Class::SUCCESS;
        }
        Class::of(self)
    }
}

macro_rules! successes {
    ($($ty:ty),* $(,)?) => {
        $(impl ClassifyResponse for $ty {})*
    };
}

successes!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    bytes::Bytes,
);

impl ClassifyResponse for str {}
impl<T> ClassifyResponse for Vec<T> {}
impl<T: ClassifyResponse + ?Sized> ClassifyResponse for &T {
    fn class(&self) -> Class {
        (**self).class()
    }
}
impl<T: ClassifyResponse + ?Sized> ClassifyResponse for Box<T> {
    fn class(&self) -> Class {
        (**self).class()
    }
}
impl<T: ClassifyResponse> ClassifyResponse for Option<T> {
    fn class(&self) -> Class {
        self.as_ref()
            .map_or(Class::SUCCESS, ClassifyResponse::class)
    }
}
impl<T: ClassifyResponse + ToOwned + ?Sized> ClassifyResponse for Cow<'_, T> {
    fn class(&self) -> Class {
        (**self).class()
    }
}
