#[staunch::hedge(max = 17)]
async fn search() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
