struct ProfileKey(u64);

fn profile_key(id: &u64) -> ProfileKey {
    ProfileKey(*id)
}

#[staunch::cache(ttl = "30s", key = profile_key)]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
