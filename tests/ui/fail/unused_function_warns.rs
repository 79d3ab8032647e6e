//! `dead_code` still reaches an annotated function that nothing calls.
#![deny(dead_code)]

#[staunch::retry(max = 2)]
#[staunch::timeout("1s")]
async fn never_called() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
