#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error(transparent)]
    #[problem(transparent)]
    Io(#[from] std::io::Error),
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
