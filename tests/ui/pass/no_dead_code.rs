//! Annotated functions that are all used compile without `dead_code` or `unused` warnings:
//! the expansion adds no item or binding of its own that could go unused.
#![deny(dead_code, unused)]

mod service {
    #[derive(Debug)]
    pub struct Error;

    impl From<staunch::Rejected> for Error {
        fn from(_: staunch::Rejected) -> Self {
            Self
        }
    }

    async fn cached(_id: u64, _error: Error) -> Result<u64, Error> {
        Ok(0)
    }

    #[staunch::fallback(cached)]
    #[staunch::retry(max = 2)]
    #[staunch::circuit_breaker(fail_max = 2)]
    #[staunch::bulkhead(limit = 2)]
    #[staunch::timeout("1s")]
    async fn private(id: u64) -> Result<u64, Error> {
        Ok(id)
    }

    #[staunch::retry(max = 2)]
    pub(crate) async fn public(mut id: u64, _unused: u64) -> Result<u64, Error> {
        id += private(id).await?;
        Ok(id)
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(service::public(1, 0).await.unwrap(), 2);
}
