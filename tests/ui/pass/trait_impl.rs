//! Methods of trait impls, with native `async fn` in traits.
#![deny(warnings)]

#[derive(Debug)]
struct Error(#[allow(dead_code)] staunch::Rejected);

impl From<staunch::Rejected> for Error {
    fn from(rejected: staunch::Rejected) -> Self {
        Self(rejected)
    }
}

trait Repository {
    async fn load(&self, id: u64) -> Result<String, Error>;
    async fn store(&mut self, value: String) -> Result<usize, Error>;
}

struct Memory {
    values: Vec<String>,
}

impl Repository for Memory {
    #[staunch::retry(max = 2)]
    #[staunch::circuit_breaker(fail_max = 3)]
    async fn load(&self, id: u64) -> Result<String, Error> {
        Ok(self.values[usize::try_from(id).unwrap()].clone())
    }

    #[staunch::bulkhead(limit = 1)]
    #[staunch::timeout("1s")]
    async fn store(&mut self, value: String) -> Result<usize, Error> {
        self.values.push(value);
        Ok(self.values.len())
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let mut memory = Memory { values: Vec::new() };
    assert_eq!(memory.store("a".into()).await.unwrap(), 1);
    assert_eq!(memory.load(0).await.unwrap(), "a");
}
