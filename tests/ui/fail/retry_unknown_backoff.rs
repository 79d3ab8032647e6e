#[staunch::retry(backoff = "exponential")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
