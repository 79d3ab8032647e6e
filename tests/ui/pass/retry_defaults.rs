//! A default never makes a written value invalid: `base` alone raises the default `max_delay`,
//! `max_delay` alone caps the default `base`.
#![deny(warnings)]

type Result<T> = std::result::Result<T, staunch::Rejected>;

#[staunch::retry(base = "20s")]
async fn slow_start() -> Result<u32> {
    Ok(1)
}

#[staunch::retry(max_delay = "50ms", jitter = "decorrelated")]
async fn quick_cap() -> Result<u32> {
    Ok(2)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(slow_start().await.unwrap(), 1);
    assert_eq!(quick_cap().await.unwrap(), 2);
}
