const IS_TRANSIENT: bool = true;

#[staunch::circuit_breaker(failure = IS_TRANSIENT)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
