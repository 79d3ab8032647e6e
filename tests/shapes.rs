//! The attributes work on the function shapes users write.
#![deny(clippy::all, clippy::pedantic, unused_qualifications)]

use std::fmt::Display;
use std::io;

#[derive(Debug, Clone)]
struct Client {
    base: String,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("io: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Rejected(#[from] staunch::Rejected),
}

#[derive(Clone)]
struct Service {
    hits: u32,
    client: Client,
}

impl Service {
    #[staunch::retry(max = 2)]
    #[staunch::timeout("1s")]
    async fn by_ref(&self, path: &str) -> Result<String, Error> {
        Ok(format!("{}/{path}", self.client.base))
    }

    #[staunch::retry(max = 3, backoff = "constant", base = "10ms")]
    async fn by_mut(&mut self, step: u32) -> Result<u32, Error> {
        self.hits += step;
        if self.hits < 3 {
            return Err(io::Error::from(io::ErrorKind::ConnectionReset).into());
        }
        Ok(self.hits)
    }

    #[staunch::fallback(Self::cached)]
    #[staunch::circuit_breaker(fail_max = 2)]
    async fn by_value(self, mut label: String) -> Result<String, Error> {
        label.push('!');
        Err(io::Error::other(format!("{}{label}", self.client.base)).into())
    }

    #[allow(clippy::unused_async)]
    async fn cached(self, label: String, _error: Error) -> Result<String, Error> {
        Ok(format!("cached {label} {}", self.hits))
    }
}

trait Fetch {
    async fn fetch(&self, id: u64) -> Result<u64, Error>;
}

impl Fetch for Client {
    #[staunch::retry(max = 2)]
    #[staunch::bulkhead(limit = 4)]
    async fn fetch(&self, id: u64) -> Result<u64, Error> {
        Ok(id + self.base.len() as u64)
    }
}

#[staunch::retry(max = 2)]
async fn generic<T: Display + Clone + Send>(
    value: T,
    suffix: impl AsRef<str> + Clone,
) -> io::Result<String> {
    Ok(format!("{value}{}", suffix.as_ref()))
}

/// Hedged over every layer that can sit inside it, a generic function with owned and
/// borrowed arguments.
#[staunch::hedge(delay = "10ms", max = 3)]
#[staunch::circuit_breaker(fail_max = 5)]
#[staunch::rate_limit(rate = "100/s")]
#[staunch::bulkhead(limit = 4, max_wait = "10ms")]
#[staunch::timeout("1s")]
async fn hedged<T: Display + Clone + Send + Sync>(value: T, suffix: &str) -> Result<String, Error> {
    Ok(format!("{value}{suffix}"))
}

#[staunch::retry(max = 2)]
async fn destructured((a, b): (u32, u32), &c: &u32) -> io::Result<u32> {
    Ok(a + b + c)
}

/// Documented, crate-visible, with other attributes around.
#[staunch::timeout("1s")]
#[tracing::instrument(level = "debug")]
#[staunch::retry(max = 2)]
#[must_use = "a result"]
pub(crate) async fn instrumented(x: u32) -> Result<u32, Error> {
    Ok(x)
}

#[tokio::test(start_paused = true)]
async fn methods_generics_and_trait_impls() {
    let client = Client {
        base: "http://up".into(),
    };
    let mut service = Service {
        hits: 0,
        client: client.clone(),
    };
    assert_eq!(service.by_ref("a").await.unwrap(), "http://up/a");
    assert_eq!(service.by_mut(1).await.unwrap(), 3);
    assert_eq!(service.by_value("x".into()).await.unwrap(), "cached x 3");
    assert_eq!(client.fetch(1).await.unwrap(), 10);
    assert_eq!(generic(5, "s").await.unwrap(), "5s");
    assert_eq!(destructured((1, 2), &3).await.unwrap(), 6);
    assert_eq!(hedged(1, "x").await.unwrap(), "1x");
    assert_eq!(instrumented(4).await.unwrap(), 4);
}

fn assert_send<F: Future + Send>(f: F) -> F {
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_stay_send() {
    let client = Client { base: "b".into() };
    let handle = tokio::spawn(assert_send(async move { client.fetch(1).await.unwrap() }));
    assert_eq!(handle.await.unwrap(), 2);
    let handle = tokio::spawn(assert_send(generic(String::from("a"), "b")));
    assert_eq!(handle.await.unwrap().unwrap(), "ab");
    let handle = tokio::spawn(assert_send(hedged(String::from("c"), "d")));
    assert_eq!(handle.await.unwrap().unwrap(), "cd");
}
