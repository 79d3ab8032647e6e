#[staunch::circuit_breaker(half_open = 0)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
