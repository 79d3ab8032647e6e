#[staunch::circuit_breaker(reset = "0s")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
