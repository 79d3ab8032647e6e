//! The return type is checked by the type system, not by spelling: aliases work.
#![deny(warnings)]

mod api {
    #[derive(Debug)]
    pub enum Error {
        Rejected,
    }

    impl From<staunch::Rejected> for Error {
        fn from(_: staunch::Rejected) -> Self {
            Self::Rejected
        }
    }

    pub type Result<T, E = Error> = std::result::Result<T, E>;
}

type Outcome = Result<u32, api::Error>;

#[staunch::circuit_breaker(fail_max = 3)]
#[staunch::timeout("1s")]
async fn user_alias() -> api::Result<u32> {
    Ok(1)
}

#[staunch::bulkhead(limit = 2)]
async fn alias_without_parameters() -> Outcome {
    Ok(2)
}

#[staunch::retry(max = 2)]
async fn io_result() -> std::io::Result<u32> {
    Ok(3)
}

#[staunch::retry(max = 2)]
async fn boxed_error() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(4)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(user_alias().await.unwrap(), 1);
    assert_eq!(alias_without_parameters().await.unwrap(), 2);
    assert_eq!(io_result().await.unwrap(), 3);
    assert_eq!(boxed_error().await.unwrap(), 4);
}
