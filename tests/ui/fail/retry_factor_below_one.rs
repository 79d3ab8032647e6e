#[staunch::retry(factor = 0.5)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
