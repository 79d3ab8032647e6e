#[staunch::rate_limit(rate = "100/s", burst = 0)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
