#[staunch::retry(max = 2, max = 3)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
