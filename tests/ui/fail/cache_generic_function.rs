#[staunch::cache(ttl = "30s")]
async fn profile<T: std::hash::Hash + Eq + Clone + Send + Sync + 'static>(
    id: T,
) -> Result<u64, staunch::Rejected> {
    drop(id);
    Ok(0)
}

fn main() {}
