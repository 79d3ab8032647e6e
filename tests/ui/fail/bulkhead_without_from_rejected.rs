#[derive(Debug)]
enum ApiError {
    Unavailable,
}

#[staunch::bulkhead(limit = 4)]
async fn fetch() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

fn main() {}
