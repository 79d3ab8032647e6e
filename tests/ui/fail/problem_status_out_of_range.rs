#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("too low")]
    #[problem(status = 99)]
    TooLow,
    #[error("too high")]
    #[problem(status = 600)]
    TooHigh,
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
