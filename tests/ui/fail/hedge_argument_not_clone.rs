struct Query(String);

#[staunch::hedge(delay = "50ms")]
async fn search(query: Query) -> Result<usize, staunch::Rejected> {
    Ok(query.0.len())
}

fn main() {}
