struct Counter(u32);

impl Counter {
    #[staunch::hedge(delay = "50ms")]
    async fn bump(&mut self) -> Result<u32, staunch::Rejected> {
        self.0 += 1;
        Ok(self.0)
    }
}

fn main() {}
