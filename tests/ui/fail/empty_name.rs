#[staunch::circuit_breaker(name = "")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
