//! A `?` whose error does not convert is reported on the `?`, as without the attribute.
#[derive(Debug)]
struct ApiError;

impl From<staunch::Rejected> for ApiError {
    fn from(_: staunch::Rejected) -> Self {
        Self
    }
}

#[staunch::retry(max = 2)]
#[staunch::timeout("1s")]
async fn fetch(text: &str) -> Result<u64, ApiError> {
    let id: u64 = text.parse()?;
    Ok(id)
}

fn main() {}
