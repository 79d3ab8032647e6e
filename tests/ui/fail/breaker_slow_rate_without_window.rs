//! One mistake, one message: `slow_rate` lacks both `window` and `slow_call`, and is reported once.
#[staunch::circuit_breaker(slow_rate = 80)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
