#[staunch::retry(max = 0)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
