#[staunch::cache(ttl = "30s")]
#[staunch::cache(ttl = "1m")]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
