#[staunch::hedge(delay = "50ms")]
async fn fill(buffer: &mut Vec<u8>) -> Result<(), staunch::Rejected> {
    buffer.push(1);
    Ok(())
}

fn main() {}
