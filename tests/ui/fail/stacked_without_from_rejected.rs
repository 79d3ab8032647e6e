//! In a stack, the missing `From<staunch::Rejected>` is reported once, on the outermost layer
//! that can reject (retry alone never rejects).
#[derive(Debug)]
enum ApiError {
    Unavailable,
}

#[staunch::retry(max = 3)]
#[staunch::circuit_breaker(fail_max = 3)]
#[staunch::timeout("2s")]
async fn fetch() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

fn main() {}
