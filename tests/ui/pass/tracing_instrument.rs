//! `#[tracing::instrument]` above, between and below staunch attributes.
#![deny(warnings)]

type Result<T> = std::result::Result<T, staunch::Rejected>;

#[tracing::instrument]
#[staunch::retry(max = 2)]
async fn above(id: u64) -> Result<u64> {
    Ok(id)
}

#[staunch::timeout("1s")]
#[tracing::instrument(level = "debug", skip(token))]
#[staunch::retry(max = 2)]
async fn between(id: u64, token: String) -> Result<usize> {
    Ok(usize::try_from(id).unwrap() + token.len())
}

#[staunch::retry(max = 2)]
#[staunch::circuit_breaker(fail_max = 2)]
#[tracing::instrument(err)]
async fn below(id: u64) -> Result<u64> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(above(1).await.unwrap(), 1);
    assert_eq!(between(1, "ab".into()).await.unwrap(), 3);
    assert_eq!(below(2).await.unwrap(), 2);
}
