#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error(transparent)]
    #[problem(transparent, status = 503)]
    Rejected(#[from] staunch::Rejected),
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
