#[staunch::cache(ttl = "30s")]
async fn render(page: impl std::fmt::Display + std::hash::Hash + Eq + Clone + Send + Sync + 'static) -> Result<String, std::io::Error> {
    Ok(page.to_string())
}

fn main() {}
