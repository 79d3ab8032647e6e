async fn cached(_id: u64, _error: staunch::Rejected) -> Result<String, staunch::Rejected> {
    Ok(String::new())
}

#[staunch::fallback(cached)]
async fn fetch(id: u64) -> Result<u64, staunch::Rejected> {
    Ok(id)
}

fn main() {}
