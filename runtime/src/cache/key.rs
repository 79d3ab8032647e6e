//! A call's arguments as the cache looks them up: borrowed for the lookup, owned only on a
//! miss, so that a hit clones no argument.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use quick_cache::Equivalent;

/// A value that can be part of a cache key: `Hash + Eq`, owned as a `Clone` value that can be
/// kept (`&str` is kept as a `String`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: `#[cache]` keys its answers by the arguments, which must be `Hash + Eq + Clone`",
    label = "this argument is part of the cache key",
    note = "derive `Hash`, `Eq` and `Clone` for it (once owned it must also be `Send + Sync + 'static`), or give `#[cache(key = path)]` a function that makes the key"
)]
pub trait KeyPart {
    /// What the cache keeps.
    type Owned: Hash + Eq + Clone + Send + Sync + 'static;

    /// The part as the cache keeps it.
    fn to_owned_part(&self) -> Self::Owned;

    /// Whether the kept part is this one.
    fn matches(&self, owned: &Self::Owned) -> bool;
}

#[diagnostic::do_not_recommend]
impl<T> KeyPart for T
where
    T: ?Sized + Hash + Eq + ToOwned,
    T::Owned: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Owned = T::Owned;

    #[inline]
    fn to_owned_part(&self) -> T::Owned {
        self.to_owned()
    }

    #[inline]
    fn matches(&self, owned: &T::Owned) -> bool {
        self == owned.borrow()
    }
}

/// Checks, at the argument, that it can be part of a key (the expansion's call), and hands it
/// on as `(&key_part(&x)).part()` takes it: see [`Checked`].
#[inline]
pub fn key_part<T: ?Sized + KeyPart>(part: &T) -> Checked<'_, T> {
    Checked(part)
}

/// A value that can be a cache key: what a `#[cache(key = path)]` function returns.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a cache key: the `key` function of `#[cache]` must return a value that is `Hash + Eq + Clone + Send + Sync + 'static`",
    label = "this function makes the key",
    note = "derive `Hash`, `Eq` and `Clone` for it, or make the key of values that have them (a tuple, a `String`)"
)]
pub trait Key: Hash + Eq + Clone + Send + Sync + 'static {}

#[diagnostic::do_not_recommend]
impl<K: Hash + Eq + Clone + Send + Sync + 'static> Key for K {}

/// Checks, at the `key` path, that the key function's value can be a key (the expansion's
/// call), and hands it on as `(&made_key(&k)).part()` takes it: see [`Checked`].
#[inline]
pub fn made_key<K: Key>(key: &K) -> Checked<'_, K> {
    Checked(key)
}

/// An argument [`key_part`], or a key [`made_key`], has checked. Autoref specialisation:
/// `(&Checked(x)).part()` is the value itself when it can be (part of) a key, the by-value
/// impl winning method resolution, and [`NoKey`] when it cannot; so that such a value is
/// reported once, by the check, and not again by every use of the key made from it.
#[derive(Debug)]
pub struct Checked<'a, T: ?Sized>(pub &'a T);

/// The argument, when it can be part of a key.
pub trait ViaKeyPart<'a> {
    /// The argument's type.
    type Part: ?Sized;

    /// The argument.
    fn part(&self) -> &'a Self::Part;
}

impl<'a, T: ?Sized + KeyPart> ViaKeyPart<'a> for Checked<'a, T> {
    type Part = T;

    #[inline]
    fn part(&self) -> &'a T {
        self.0
    }
}

/// A stand-in, when it cannot: the code only compiles on, its error already reported.
pub trait ViaNoKey {
    /// The stand-in.
    #[inline]
    fn part(&self) -> &'static NoKey {
        &NoKey
    }
}

impl<T: ?Sized> ViaNoKey for &Checked<'_, T> {}

/// What stands in for an argument that cannot be part of a key (never made: its function does
/// not compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoKey;

/// A key to look up: it hashes as the owned key it stands for, and is compared with it in
/// place.
pub trait Lookup: Hash + Equivalent<Self::Key> {
    /// The key the cache keeps.
    type Key: Hash + Eq + Clone + Send + Sync + 'static;

    /// The owned key, made on a miss.
    fn to_key(&self) -> Self::Key;
}

/// The arguments of a call, borrowed: one argument is kept as itself, several as a tuple, none
/// as `()`.
#[derive(Debug, Clone, Copy)]
pub struct Args<T>(pub T);

/// A key made by a `key = path` function, or given to [`Cache::call`](super::Cache::call).
#[derive(Debug, Clone, Copy)]
pub struct Whole<'a, K>(pub &'a K);

impl<K: Hash> Hash for Whole<'_, K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl<K: Eq> Equivalent<K> for Whole<'_, K> {
    fn equivalent(&self, key: &K) -> bool {
        self.0 == key
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Lookup for Whole<'_, K> {
    type Key = K;

    fn to_key(&self) -> K {
        self.0.clone()
    }
}

impl Hash for Args<()> {
    /// As `()` hashes: not at all.
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

impl Equivalent<()> for Args<()> {
    fn equivalent(&self, (): &()) -> bool {
        true
    }
}

impl Lookup for Args<()> {
    type Key = ();

    fn to_key(&self) {}
}

// One argument: the key is the argument itself, which `Cache::invalidate` takes as it is.
impl<A: ?Sized + KeyPart> Hash for Args<(&A,)>
where
    A: Hash,
{
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the owned part hashes: `Borrow` promises the same hash.
        self.0.0.hash(state);
    }
}

impl<A: ?Sized + KeyPart + Hash> Equivalent<A::Owned> for Args<(&A,)> {
    fn equivalent(&self, key: &A::Owned) -> bool {
        self.0.0.matches(key)
    }
}

impl<A: ?Sized + KeyPart + Hash> Lookup for Args<(&A,)> {
    type Key = A::Owned;

    fn to_key(&self) -> A::Owned {
        self.0.0.to_owned_part()
    }
}

/// Several arguments: a tuple hashes its fields in order, and so does the borrowed tuple.
macro_rules! tuples {
    ($(($($part:ident $index:tt),+))+) => {$(
        impl<$($part: ?Sized + KeyPart + Hash),+> Hash for Args<($(&$part,)+)> {
            fn hash<S: Hasher>(&self, state: &mut S) {
                $(self.0.$index.hash(state);)+
            }
        }

        impl<$($part: ?Sized + KeyPart + Hash),+> Equivalent<($($part::Owned,)+)>
            for Args<($(&$part,)+)>
        {
            fn equivalent(&self, key: &($($part::Owned,)+)) -> bool {
                $(self.0.$index.matches(&key.$index))&&+
            }
        }

        impl<$($part: ?Sized + KeyPart + Hash),+> Lookup for Args<($(&$part,)+)> {
            type Key = ($($part::Owned,)+);

            fn to_key(&self) -> Self::Key {
                ($(self.0.$index.to_owned_part(),)+)
            }
        }
    )+};
}

tuples! {
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11)
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_borrowed_key_hashes_and_compares_as_the_owned_one() {
        let state = std::hash::RandomState::new();
        let borrowed = Args(("ada", &7_u32));
        let owned = borrowed.to_key();
        assert_eq!(owned, ("ada".to_owned(), 7));
        assert_eq!(state.hash_one(borrowed), state.hash_one(&owned));
        assert!(borrowed.equivalent(&owned));
        assert!(!Args(("ada", &8_u32)).equivalent(&owned));

        let one = Args(("ada",));
        assert_eq!(one.to_key(), "ada");
        assert_eq!(state.hash_one(one), state.hash_one("ada".to_owned()));
        assert!(Args(()).equivalent(&()));
    }
}
