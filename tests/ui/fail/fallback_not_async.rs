fn cached(id: u64, _error: staunch::Rejected) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

#[staunch::fallback(cached)]
async fn fetch(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
