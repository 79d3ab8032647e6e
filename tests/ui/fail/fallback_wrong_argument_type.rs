async fn cached(id: String, _error: staunch::Rejected) -> Result<u64, staunch::Rejected> {
    Ok(id.len() as u64)
}

#[staunch::fallback(cached)]
async fn fetch(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
