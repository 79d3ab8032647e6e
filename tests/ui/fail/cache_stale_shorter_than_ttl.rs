#[staunch::cache(ttl = "30s", stale = "10s")]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
