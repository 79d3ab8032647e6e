// `#[tokio::test]` below a staunch attribute expands first into a plain `fn`.
#[staunch::retry(max = 2)]
#[tokio::test]
async fn flaky() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
