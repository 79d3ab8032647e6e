#[staunch::circuit_breaker(failure_rate = 50)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
