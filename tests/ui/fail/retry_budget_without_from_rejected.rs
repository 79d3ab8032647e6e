#[derive(Debug)]
struct Error;

// A budget may end the call with `Rejected::BudgetExhausted`.
#[staunch::retry(max = 3, budget = "payments")]
async fn fetch() -> Result<(), Error> {
    Err(Error)
}

fn main() {}
