//! Inherent methods taking `&self`, `&mut self` and `self`, with `Self::` fallbacks.
#![deny(warnings)]

#[derive(Debug)]
enum Error {
    Unavailable,
    Rejected,
}

impl From<staunch::Rejected> for Error {
    fn from(_: staunch::Rejected) -> Self {
        Self::Rejected
    }
}

#[derive(Clone)]
struct Client {
    base: String,
    calls: u32,
}

impl Client {
    #[staunch::retry(max = 2)]
    #[staunch::timeout("1s")]
    async fn by_ref(&self, path: &str) -> Result<String, Error> {
        Ok(format!("{}/{path}", self.base))
    }

    #[staunch::retry(max = 3, backoff = "constant", base = "10ms")]
    async fn by_mut(&mut self) -> Result<u32, Error> {
        self.calls += 1;
        if self.calls < 3 {
            return Err(Error::Unavailable);
        }
        Ok(self.calls)
    }

    #[staunch::fallback(Self::cached)]
    #[staunch::circuit_breaker(fail_max = 2)]
    async fn by_value(self, label: String) -> Result<String, Error> {
        Err(Error::Unavailable).map(|()| format!("{}{label}", self.base))
    }

    async fn cached(self, label: String, _error: Error) -> Result<String, Error> {
        Ok(format!("cached {label} {}", self.calls))
    }

    #[staunch::bulkhead(limit = 1)]
    async fn associated(value: u32) -> Result<u32, Error> {
        Ok(value)
    }

    #[staunch::rate_limit(rate = "5/s")]
    async fn paced(&self) -> Result<usize, Error> {
        Ok(self.base.len())
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let mut client = Client {
        base: "http://up".into(),
        calls: 0,
    };
    assert_eq!(client.by_ref("a").await.unwrap(), "http://up/a");
    assert_eq!(client.by_mut().await.unwrap(), 3);
    assert_eq!(client.clone().by_value("x".into()).await.unwrap(), "cached x 3");
    assert_eq!(Client::associated(4).await.unwrap(), 4);
    assert_eq!(client.paced().await.unwrap(), 9);
}
