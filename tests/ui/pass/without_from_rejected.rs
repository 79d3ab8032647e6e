//! Retry and fallback never reject, so they do not ask the error for `From<staunch::Rejected>`.
#![deny(warnings)]

#[derive(Debug, PartialEq)]
enum Error {
    Unavailable,
}

async fn cached(_id: u64, _error: Error) -> Result<u64, Error> {
    Ok(0)
}

#[staunch::retry(max = 3, base = "1ms")]
async fn retried(id: u64) -> Result<u64, Error> {
    Err(Error::Unavailable).map(|()| id)
}

#[staunch::fallback(cached)]
async fn fallen_back(id: u64) -> Result<u64, Error> {
    Err(Error::Unavailable).map(|()| id)
}

#[staunch::fallback(cached)]
#[staunch::retry(max = 2)]
async fn both(id: u64) -> Result<u64, Error> {
    Err(Error::Unavailable).map(|()| id)
}

#[staunch::retry(max = 2)]
async fn io_error() -> std::io::Result<()> {
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(retried(1).await, Err(Error::Unavailable));
    assert_eq!(fallen_back(1).await, Ok(0));
    assert_eq!(both(1).await, Ok(0));
    io_error().await.unwrap();
}
