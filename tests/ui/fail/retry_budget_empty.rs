#[staunch::retry(budget = "")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
