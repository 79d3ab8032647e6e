#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("rejected: {0}")]
    #[problem(transparent)]
    Rejected(staunch::Rejected, String),
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
