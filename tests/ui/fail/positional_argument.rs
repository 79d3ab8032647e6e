#[staunch::retry(3)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
