fn profile_key(id: &u64) -> u64 {
    *id
}

#[staunch::cache(ttl = "30s", key = profile_key)]
async fn profile(id: u64, lang: &str) -> Result<String, staunch::Rejected> {
    Ok(format!("{id}{lang}"))
}

fn main() {}
