//! How fresh an answer is, as the caller sees it: in a [`Cached`] answer, or through
//! [`freshness`] right after the call.

use std::cell::Cell;
use std::ops::Deref;
use std::time::Duration;

/// Whether an answer was made by the call, served from the cache, or served stale because the
/// call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freshness {
    /// Made by this call, or by a concurrent call for the same key.
    Live,
    /// Served from the cache, cached `age` ago (less than `ttl`).
    Fresh {
        /// How long ago it was cached.
        age: Duration,
    },
    /// Served from the cache because the call failed, cached `age` ago (less than `stale`).
    Stale {
        /// How long ago it was cached.
        age: Duration,
    },
}

impl Freshness {
    /// Whether the answer was made by the call.
    #[must_use]
    pub fn is_live(self) -> bool {
        self == Self::Live
    }

    /// Whether the answer came from the cache (fresh or stale).
    #[must_use]
    pub fn is_cached(self) -> bool {
        !self.is_live()
    }

    /// Whether the answer was served stale, the call having failed.
    #[must_use]
    pub fn is_stale(self) -> bool {
        matches!(self, Self::Stale { .. })
    }

    /// How long ago the answer was cached (zero for a live one).
    #[must_use]
    pub fn age(self) -> Duration {
        match self {
            Self::Live => Duration::ZERO,
            Self::Fresh { age } | Self::Stale { age } => age,
        }
    }
}

std::thread_local! {
    static LAST: Cell<Option<Freshness>> = const { Cell::new(None) };
}

/// The freshness of the answer the last cached call on this thread returned: `None` before
/// any, or when it returned an error.
///
/// A call ends on the thread that awaited it, so read this right after the `.await`, before
/// awaiting anything else (another task may run on this thread then). To carry the freshness
/// further, return [`Cached<T>`] from the function instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use staunch::cache::Freshness;
///
/// #[staunch::cache(ttl = "30s")]
/// async fn price(sku: u32) -> Result<u32, std::io::Error> {
///     Ok(sku * 100)
/// }
///
/// price(7).await.unwrap();
/// assert_eq!(staunch::cache::freshness(), Some(Freshness::Live));
/// price(7).await.unwrap();
/// assert!(staunch::cache::freshness().is_some_and(Freshness::is_cached));
/// # }
/// ```
#[must_use]
pub fn freshness() -> Option<Freshness> {
    LAST.get()
}

/// The call returned an error.
pub(super) fn forget() {
    LAST.set(None);
}

/// An answer and its [`Freshness`]: what a cached function returns when its `Ok` type is
/// written `Cached<T>`, and what [`Cache::call`](super::Cache::call) returns. It dereferences
/// to the answer and serializes as the answer alone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use staunch::cache::Cached;
///
/// #[staunch::cache(ttl = "30s")]
/// async fn profile(user: u64) -> Result<Cached<String>, std::io::Error> {
///     Ok(Cached::new(format!("user {user}")))
/// }
///
/// let first = profile(1).await.unwrap();
/// assert!(first.freshness().is_live());
/// let second = profile(1).await.unwrap();
/// assert!(second.freshness().is_cached());
/// assert_eq!(*second, "user 1");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cached<T> {
    value: T,
    freshness: Freshness,
}

impl<T> Cached<T> {
    /// A live answer: what the function's body returns.
    pub fn new(value: T) -> Self {
        Self {
            value,
            freshness: Freshness::Live,
        }
    }

    /// An answer the cache hands out, noted as this thread's last.
    pub(super) fn answer(value: T, freshness: Freshness) -> Self {
        LAST.set(Some(freshness));
        Self { value, freshness }
    }

    /// A live answer the cache hands out.
    pub(super) fn live(value: T) -> Self {
        Self::answer(value, Freshness::Live)
    }

    /// How fresh the answer is.
    #[must_use]
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// The answer.
    #[must_use]
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The answer, without its freshness.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The answer and its freshness.
    #[must_use]
    pub fn into_parts(self) -> (T, Freshness) {
        (self.value, self.freshness)
    }
}

impl<T> Cached<Cached<T>> {
    /// A cached `Cached<T>` answer, with the freshness the cache found.
    #[doc(hidden)]
    #[must_use]
    pub fn __flatten(self) -> Cached<T> {
        Cached {
            value: self.value.value,
            freshness: self.freshness,
        }
    }
}

impl<T> From<T> for Cached<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T> Deref for Cached<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: serde::Serialize> serde::Serialize for Cached<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}
