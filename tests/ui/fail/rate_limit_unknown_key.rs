#[staunch::rate_limit(rate = "100/s", brust = 5)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
