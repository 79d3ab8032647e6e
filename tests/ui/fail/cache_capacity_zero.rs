#[staunch::cache(ttl = "30s", capacity = 0)]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
