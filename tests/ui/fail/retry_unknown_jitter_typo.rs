#[staunch::retry(jitter = "fulll")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
