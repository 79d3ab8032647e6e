#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(type_base = "https://example.com/my probs/")]
enum ApiError {
    #[error("out of credit")]
    #[problem(status = 403, type = "out-of-credit")]
    OutOfCredit,
    #[error("not found")]
    #[problem(status = 404, type = "not-found")]
    NotFound,
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
