#[derive(Debug)]
enum ApiError {
    Unavailable,
}

#[staunch::circuit_breaker(fail_max = 3)]
async fn fetch() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

fn main() {}
