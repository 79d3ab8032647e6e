#[staunch::rate_limit(rate = "100/s", rate = "5/s")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
