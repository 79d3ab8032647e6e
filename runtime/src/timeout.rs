//! The timeout: the inner call is dropped once its time is up.

use std::future::Future;
use std::time::Duration;

use crate::Rejected;
use crate::failure::{Failure, widen};

/// Runs one attempt for at most `after`: the layer that `#[timeout]` expands to.
pub async fn guard<T, E, R, F>(after: Duration, attempt: F) -> Result<T, Failure<E>>
where
    F: Future<Output = Result<T, Failure<E, R>>>,
    R: Into<Rejected>,
{
    match tokio::time::timeout(after, attempt).await {
        Ok(result) => widen(result),
        Err(_) => Err(Failure::Rejected(Rejected::Timeout { after })),
    }
}

/// Runs `f` for at most `after`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use staunch::Rejected;
///
/// let slow = staunch::timeout(Duration::from_secs(2), || async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, Rejected>(())
/// });
/// assert_eq!(slow.await, Err(Rejected::Timeout { after: Duration::from_secs(2) }));
/// # }
/// ```
///
/// # Errors
/// `f`'s error, or `E::from(Rejected::Timeout { .. })` when time ran out.
pub async fn timeout<T, E, F, Fut>(after: Duration, f: F) -> Result<T, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: From<Rejected>,
{
    crate::failure::finish(guard(after, async { crate::failure::lift(f().await) }).await)
}
