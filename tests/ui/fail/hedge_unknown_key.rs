#[staunch::hedge(dealy = "50ms")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
