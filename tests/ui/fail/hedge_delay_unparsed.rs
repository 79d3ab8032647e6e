#[staunch::hedge(delay = "soon")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
