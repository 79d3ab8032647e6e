struct Request {
    id: u64,
}

#[staunch::retry(max = 2)]
async fn send(request: Request) -> Result<u64, staunch::Rejected> {
    Ok(request.id)
}

fn main() {}
