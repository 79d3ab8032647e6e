#[staunch::circuit_breaker(reset = 30)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
