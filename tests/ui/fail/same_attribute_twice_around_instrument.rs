#[staunch::retry(max = 2)]
#[tracing::instrument]
#[staunch::retry(max = 3)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
