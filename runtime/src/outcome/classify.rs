//! Which errors are worth retrying and which count against a circuit breaker.

use std::convert::Infallible;
use std::error::Error;
use std::io;
use std::time::Duration;

use crate::Rejected;

/// Tells retry and the circuit breaker what an error means.
///
/// `#[retry]` retries only errors that are [`is_transient`](Classify::is_transient);
/// `#[circuit_breaker]` counts only errors that are [`is_failure`](Classify::is_failure).
/// For the attributes, an error type without this trait is treated as transient and a failure,
/// and an explicit `when =`/`failure =` predicate always wins; the tower layers' default
/// classifier needs it (or a closure classifier).
///
/// ```
/// use std::time::Duration;
/// use staunch::Classify;
///
/// enum FetchError { NotFound, Throttled { wait: Duration } }
///
/// impl Classify for FetchError {
///     fn is_transient(&self) -> bool { matches!(self, Self::Throttled { .. }) }
///     fn is_failure(&self) -> bool { !matches!(self, Self::NotFound) }
///     fn retry_after(&self) -> Option<Duration> {
///         match self { Self::Throttled { wait } => Some(*wait), Self::NotFound => None }
///     }
/// }
///
/// assert!(!FetchError::NotFound.is_transient());
/// assert_eq!(FetchError::Throttled { wait: Duration::from_secs(2) }.retry_after(), Some(Duration::from_secs(2)));
/// ```
pub trait Classify {
    /// Worth retrying: the same call may succeed later.
    fn is_transient(&self) -> bool {
        true
    }

    /// Counts against a circuit breaker: the dependency, not the caller, is at fault.
    fn is_failure(&self) -> bool {
        true
    }

    /// How long the dependency asked callers to wait before the next attempt.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The rejection this error carries, when a staunch layer refused the call: a tower layer
    /// outside then judges it as the rejection (retry stops at an open breaker, a breaker
    /// ignores a full bulkhead) whatever the other methods say. `derive(Problem)` forwards it
    /// through a `transparent` variant; implement it when your error holds a `Rejected` and
    /// classifies by hand.
    ///
    /// ```
    /// use staunch::{Classify, Rejected};
    ///
    /// enum ApiError { Down, Refused(Rejected) }
    /// impl Classify for ApiError {
    ///     fn rejection(&self) -> Option<&Rejected> {
    ///         match self { Self::Refused(rejected) => Some(rejected), Self::Down => None }
    ///     }
    /// }
    /// let full = ApiError::Refused(Rejected::BulkheadFull { name: "db", limit: 4 });
    /// assert!(full.rejection().is_some() && ApiError::Down.rejection().is_none());
    /// ```
    fn rejection(&self) -> Option<&Rejected> {
        None
    }
}

impl<C: Classify + ?Sized> Classify for &C {
    fn is_transient(&self) -> bool {
        (**self).is_transient()
    }
    fn is_failure(&self) -> bool {
        (**self).is_failure()
    }
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn rejection(&self) -> Option<&Rejected> {
        (**self).rejection()
    }
}

impl<C: Classify + ?Sized> Classify for Box<C> {
    fn is_transient(&self) -> bool {
        (**self).is_transient()
    }
    fn is_failure(&self) -> bool {
        (**self).is_failure()
    }
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
    fn rejection(&self) -> Option<&Rejected> {
        (**self).rejection()
    }
}

/// Never a value: lets a service or function that cannot fail stand under the policies.
impl Classify for Infallible {}

/// A boxed error (tower's `BoxError`) is classified as what it holds when staunch knows the
/// type: a [`Rejected`] or an [`io::Error`]; anything else is transient and a failure, as an
/// error without `Classify` is for the attributes.
///
/// ```
/// use staunch::{Classify, Rejected};
///
/// let open: Box<dyn std::error::Error + Send + Sync> =
///     Rejected::CircuitOpen { name: "db", retry_in: std::time::Duration::ZERO }.into();
/// assert!(!open.is_transient() && !open.is_failure());
/// let other: Box<dyn std::error::Error + Send + Sync> = "connection lost".into();
/// assert!(other.is_transient() && other.is_failure());
/// ```
impl Classify for dyn Error + Send + Sync + 'static {
    fn is_transient(&self) -> bool {
        match known(self) {
            Known::Rejected(rejected) => rejected.is_transient(),
            Known::Io(io) => io.is_transient(),
            Known::Other => true,
        }
    }

    fn is_failure(&self) -> bool {
        match known(self) {
            Known::Rejected(rejected) => rejected.is_failure(),
            Known::Io(io) => io.is_failure(),
            Known::Other => true,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match known(self) {
            Known::Rejected(rejected) => rejected.retry_after(),
            Known::Io(_) | Known::Other => None,
        }
    }

    fn rejection(&self) -> Option<&Rejected> {
        match known(self) {
            Known::Rejected(rejected) => Some(rejected),
            Known::Io(_) | Known::Other => None,
        }
    }
}

/// What a boxed error holds, when it is a type with its own classification.
enum Known<'a> {
    Rejected(&'a Rejected),
    Io(&'a io::Error),
    Other,
}

fn known<'a>(error: &'a (dyn Error + Send + Sync + 'static)) -> Known<'a> {
    if let Some(rejected) = error.downcast_ref::<Rejected>() {
        Known::Rejected(rejected)
    } else if let Some(io) = error.downcast_ref::<io::Error>() {
        Known::Io(io)
    } else {
        Known::Other
    }
}

/// By kind: network and timing trouble is transient and a failure; a caller's mistake
/// (not found, permission denied, invalid input or data) is neither.
impl Classify for io::Error {
    fn is_transient(&self) -> bool {
        use io::ErrorKind::{
            BrokenPipe, ConnectionAborted, ConnectionRefused, ConnectionReset, HostUnreachable,
            Interrupted, NetworkDown, NetworkUnreachable, NotConnected, ResourceBusy, TimedOut,
            UnexpectedEof, WouldBlock,
        };
        matches!(
            self.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | BrokenPipe
                | TimedOut
                | Interrupted
                | WouldBlock
                | UnexpectedEof
                | HostUnreachable
                | NetworkUnreachable
                | NetworkDown
                | ResourceBusy
        )
    }

    fn is_failure(&self) -> bool {
        use io::ErrorKind::{
            AlreadyExists, InvalidData, InvalidInput, NotFound, PermissionDenied, Unsupported,
        };
        !matches!(
            self.kind(),
            NotFound | PermissionDenied | InvalidInput | InvalidData | AlreadyExists | Unsupported
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_by_kind() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(refused.is_transient() && refused.is_failure());
        let not_found = io::Error::from(io::ErrorKind::NotFound);
        assert!(!not_found.is_transient() && !not_found.is_failure());
        let other = io::Error::other("disk on fire");
        assert!(!other.is_transient() && other.is_failure());
        assert_eq!(refused.retry_after(), None);
    }
}
