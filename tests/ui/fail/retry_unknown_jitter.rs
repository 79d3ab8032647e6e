#[staunch::retry(jitter = "random")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
