trait Fetch {
    #[staunch::retry(max = 2)]
    async fn fetch(&self) -> Result<(), staunch::Rejected>;
}

fn main() {}
