#[staunch::cache(ttl = "9000h")]
async fn profile(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
