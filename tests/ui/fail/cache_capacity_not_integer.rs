#[staunch::cache(ttl = "30s", capacity = "10000")]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
