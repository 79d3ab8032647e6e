#[staunch::retry(when = "is_transient")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
