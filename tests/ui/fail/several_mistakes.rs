#[staunch::circuit_breaker(fail_max = 0, reset = "soon", half_open = "1", colour = 3)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
