//! Generic functions, `impl Trait` arguments, reference arguments, patterns and `mut` bindings.
#![deny(warnings)]

use std::fmt::Display;
use std::io;

#[staunch::retry(max = 2)]
async fn generic<T: Display + Clone>(value: T) -> io::Result<String> {
    Ok(value.to_string())
}

#[staunch::retry(max = 2)]
async fn where_clause<K>(key: K, count: usize) -> io::Result<Vec<K>>
where
    K: Clone + Send,
{
    Ok(vec![key; count])
}

#[staunch::retry(max = 2)]
async fn impl_trait(suffix: impl AsRef<str> + Clone) -> io::Result<String> {
    Ok(format!("x{}", suffix.as_ref()))
}

#[staunch::retry(max = 2)]
async fn references(text: &str, out: &mut Vec<String>) -> io::Result<usize> {
    out.push(text.to_owned());
    Ok(out.len())
}

#[staunch::retry(max = 2)]
async fn lifetimes<'a>(first: &'a str, _second: &str) -> io::Result<&'a str> {
    Ok(first)
}

#[staunch::retry(max = 2)]
async fn patterns((a, b): (u32, u32), &c: &u32, mut d: u32) -> io::Result<u32> {
    d += a + b + c;
    Ok(d)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(generic(5).await.unwrap(), "5");
    assert_eq!(where_clause('k', 2).await.unwrap(), ['k', 'k']);
    assert_eq!(impl_trait("y").await.unwrap(), "xy");
    let mut out = Vec::new();
    assert_eq!(references("a", &mut out).await.unwrap(), 1);
    assert_eq!(lifetimes("a", "b").await.unwrap(), "a");
    assert_eq!(patterns((1, 2), &3, 4).await.unwrap(), 10);
}
