#[staunch::cache(ttl = "30s")]
async fn page<const SIZE: usize>(number: u32) -> Result<[u8; SIZE], std::io::Error> {
    let _ = number;
    Ok([0; SIZE])
}

fn main() {}
