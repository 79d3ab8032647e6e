#[staunch::circuit_breaker(fail_max = 5, window = 100)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
