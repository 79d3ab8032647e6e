#[staunch::bulkhead(limit = 536_870_912)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
