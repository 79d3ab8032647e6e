#[derive(Debug, thiserror::Error, staunch::Problem)]
#[error("gone")]
#[problem(title = "Gone", type = "https://example.com/probs/gone")]
struct Gone;

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<Gone>();
}
