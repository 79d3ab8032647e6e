#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("upstream answered {status}")]
    #[problem(status = 502)]
    Upstream {
        #[problem(extension)]
        status: u16,
    },
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
