#[staunch::cache(ttl = "5 parsecs")]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
