#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("product {id} not found")]
    #[problem(status = 404)]
    NotFound {
        #[problem(extension)]
        id: u64,
    },
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
