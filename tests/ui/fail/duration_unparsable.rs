#[staunch::timeout("5 parsecs")]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
