#[staunch::rate_limit(rate = "1/h", burst = 9000)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
