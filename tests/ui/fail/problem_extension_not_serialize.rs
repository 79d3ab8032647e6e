#[derive(Debug)]
struct Account;

#[derive(Debug, thiserror::Error, staunch::Problem)]
enum ApiError {
    #[error("account {account:?} is short")]
    #[problem(status = 403)]
    InsufficientFunds {
        #[problem(extension)]
        account: Account,
    },
}

fn main() {
    // The type still answers as a problem: the mistake above is the only error.
    fn answers<P: staunch::Problem + axum::response::IntoResponse>() {}
    answers::<ApiError>();
}
