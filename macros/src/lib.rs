//! The attribute macros of [staunch](https://docs.rs/staunch). Use them through the `staunch`
//! crate: generated code names `::staunch::` paths only.
//!
//! Each entry point hands its tokens to `stack::expand`; everything below works on
//! `proc_macro2` so it can be tested as a plain library.

#[cfg(test)]
mod agreement;
mod args;
mod errors;
mod expand;
mod layer;
mod problem;
mod signature;
mod stack;

use proc_macro::TokenStream;

use crate::layer::Kind;

/// Implements `staunch::Problem` and `staunch::Classify` from `#[problem(...)]` attributes.
/// See the `staunch` crate.
#[proc_macro_derive(Problem, attributes(problem))]
pub fn derive_problem(input: TokenStream) -> TokenStream {
    problem::derive(input.into()).into()
}

/// Retries transient failures with backoff and jitter. See the `staunch` crate.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::Retry, args.into(), item.into()).into()
}

/// Stops calling a dependency that keeps failing. See the `staunch` crate.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Bounds the calls in flight. See the `staunch` crate.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::Bulkhead, args.into(), item.into()).into()
}

/// Admits at most `rate` calls per period, `burst` at once. See the `staunch` crate.
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::RateLimit, args.into(), item.into()).into()
}

/// Starts another attempt beside one that has not answered after `delay`. See the `staunch`
/// crate.
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::Hedge, args.into(), item.into()).into()
}

/// Answers from earlier successes for `ttl`, and serves a stale answer when the call fails.
/// See the `staunch` crate.
#[proc_macro_attribute]
pub fn cache(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::Cache, args.into(), item.into()).into()
}

/// Abandons a call that takes too long. See the `staunch` crate.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::Timeout, args.into(), item.into()).into()
}

/// Answers from another function when the call fails. See the `staunch` crate.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::expand(Kind::Fallback, args.into(), item.into()).into()
}

/// A group of staunch attributes placed among other attribute macros: emitted by the topmost
/// staunch attribute so that the layers nest in reading order. Not written by users.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn __stack(args: TokenStream, item: TokenStream) -> TokenStream {
    stack::resume(args.into(), item.into()).into()
}
