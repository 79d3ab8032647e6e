//! `Problem`'s supertraits are `Classify`, which the derive implements, and `Error`, which it
//! does not: one error, on the type.
#[derive(Debug, staunch::Problem)]
enum ApiError {
    #[problem(status = 404)]
    NotFound,
}

fn main() {
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
