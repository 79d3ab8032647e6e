#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(status = 400)]
enum ApiError {
    #[error("product not found")]
    #[problem]
    NotFound,
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
