/// A page the cache would hand out a copy of: not `Clone`.
struct Page;

#[staunch::cache(ttl = "30s")]
async fn page(id: u32) -> Result<Page, std::io::Error> {
    let _ = id;
    Ok(Page)
}

fn main() {}
