#[staunch::timeout]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
