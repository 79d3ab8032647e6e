async fn cached(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

#[staunch::fallback(cached)]
async fn fetch(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
