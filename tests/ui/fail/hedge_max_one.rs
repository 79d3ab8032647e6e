#[staunch::hedge(delay = "50ms", max = 1)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
