#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("product {product} not found")]
    #[problem(status = 404)]
    NotFound {
        #[problem(extension = "x-y")]
        product: u64,
    },
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
