async fn cached(pair: (u64, u64), _error: staunch::Rejected) -> Result<u64, staunch::Rejected> {
    Ok(pair.0)
}

#[staunch::fallback(cached)]
async fn fetch((a, b): (u64, u64)) -> Result<u64, staunch::Rejected> {
    Ok(a + b)
}

fn main() {}
