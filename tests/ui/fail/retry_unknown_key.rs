#[staunch::retry(colour = "red")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
