#[staunch::retry(max = 2)]
struct Client;

fn main() {}
