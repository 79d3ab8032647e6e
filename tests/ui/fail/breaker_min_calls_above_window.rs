#[staunch::circuit_breaker(window = 10, min_calls = 20)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
