#[staunch::retry(max = 2)]
fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
