#[staunch::rate_limit(rate = "100/s", max_wait = "25h")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
