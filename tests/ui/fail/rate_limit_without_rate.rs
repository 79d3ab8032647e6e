#[staunch::rate_limit(burst = 5)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
