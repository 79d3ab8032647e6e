#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("account {account} is short")]
    #[problem(status = 403)]
    InsufficientFunds {
        #[problem(extension)]
        balance: f64,
        #[problem(extension = "balance")]
        account: String,
    },
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
