fn pair_key(pair: &(u64, u64)) -> u64 {
    pair.0
}

#[staunch::cache(ttl = "30s", key = pair_key)]
async fn profile((a, b): (u64, u64)) -> Result<u64, staunch::Rejected> {
    Ok(a + b)
}

fn main() {}
