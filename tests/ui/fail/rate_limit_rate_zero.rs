#[staunch::rate_limit(rate = "0/s")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
