//! Doc comments, `#[allow]`, `#[cfg]`, `#[must_use]` and inner attributes around staunch's.
#![deny(warnings)]

type Result<T> = std::result::Result<T, staunch::Rejected>;

/// Fetches a value.
#[staunch::retry(max = 2)]
/// More documentation between the attributes.
#[allow(clippy::unused_async)]
#[staunch::timeout("1s")]
#[must_use = "the value is the point"]
async fn documented(mut value: u32) -> Result<u32> {
    #![allow(unused_mut)]
    value += 1;
    Ok(value)
}

#[cfg(all())]
#[staunch::retry(max = 2)]
async fn configured_in() -> Result<u32> {
    Ok(1)
}

#[staunch::retry(max = 2)]
#[cfg(any())]
async fn configured_out() -> Result<u32> {
    compile_error!("this function is configured out")
}

#[staunch::retry(max = 2)]
#[cfg_attr(all(), allow(clippy::unused_async))]
#[deprecated = "use `documented`"]
async fn old() -> Result<u32> {
    Ok(2)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(documented(1).await.unwrap(), 2);
    assert_eq!(configured_in().await.unwrap(), 1);
    #[allow(deprecated)]
    let value = old().await.unwrap();
    assert_eq!(value, 2);
}
