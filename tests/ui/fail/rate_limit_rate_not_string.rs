#[staunch::rate_limit(rate = 100)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
