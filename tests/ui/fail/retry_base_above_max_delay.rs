#[staunch::retry(base = "20s", max_delay = "5s")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
