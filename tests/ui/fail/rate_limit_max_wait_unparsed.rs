#[staunch::rate_limit(rate = "100/s", max_wait = "5 parsecs")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
