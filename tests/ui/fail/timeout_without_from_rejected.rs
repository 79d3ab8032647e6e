#[derive(Debug)]
enum ApiError {
    Unavailable,
}

#[staunch::timeout("2s")]
async fn fetch() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

fn main() {}
