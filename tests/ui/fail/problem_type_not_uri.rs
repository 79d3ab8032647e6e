#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("out of credit")]
    #[problem(status = 403, type = "not a uri")]
    OutOfCredit,
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
