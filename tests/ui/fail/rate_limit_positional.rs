#[staunch::rate_limit("100/s")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
