#[derive(Debug)]
struct SearchError;

#[staunch::rate_limit(rate = "100/s")]
async fn search() -> Result<(), SearchError> {
    Ok(())
}

fn main() {}
