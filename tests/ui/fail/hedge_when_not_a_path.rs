#[staunch::hedge(when = "transient")]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
