#[staunch::retry(max_dealy = "1s")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
