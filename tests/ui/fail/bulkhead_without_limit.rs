#[staunch::bulkhead(max_wait = "50ms")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
