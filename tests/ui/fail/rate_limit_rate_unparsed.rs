#[staunch::rate_limit(rate = "100 per second")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
