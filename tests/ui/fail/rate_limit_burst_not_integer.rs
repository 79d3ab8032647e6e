#[staunch::rate_limit(rate = "100/s", burst = "20")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
