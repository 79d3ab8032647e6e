use std::time::Duration;

#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("slow down")]
    #[problem(status = 429)]
    Throttled {
        #[problem(retry_after)]
        wait: Duration,
        #[problem(retry_after)]
        fallback: Duration,
    },
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
