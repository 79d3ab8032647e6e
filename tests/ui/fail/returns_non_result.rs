#[staunch::retry(max = 2)]
async fn fetch() -> u32 {
    7
}

fn main() {}
