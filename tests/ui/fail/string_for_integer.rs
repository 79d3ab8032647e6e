#[staunch::retry(max = "3")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
