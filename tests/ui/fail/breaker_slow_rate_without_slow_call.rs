#[staunch::circuit_breaker(window = 100, slow_rate = 80)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
