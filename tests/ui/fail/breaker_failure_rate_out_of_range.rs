#[staunch::circuit_breaker(window = 100, failure_rate = 150)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
