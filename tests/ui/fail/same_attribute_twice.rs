#[staunch::retry(max = 2)]
#[staunch::timeout("1s")]
#[staunch::retry(max = 3)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
