#[staunch::retry(backoff = "constant", factor = 2)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
