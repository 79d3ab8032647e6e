#[staunch::bulkhead(limit = 0)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
