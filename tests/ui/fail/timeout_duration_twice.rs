#[staunch::timeout("1s", after = "2s")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
