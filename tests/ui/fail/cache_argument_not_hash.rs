#[derive(Clone)]
struct Query {
    text: String,
}

#[staunch::cache(ttl = "30s")]
async fn search(limit: u32, query: Query) -> Result<usize, staunch::Rejected> {
    Ok(query.text.len().min(limit as usize))
}

fn main() {}
