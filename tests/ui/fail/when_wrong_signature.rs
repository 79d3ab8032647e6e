fn is_transient(_error: staunch::Rejected) -> bool {
    true
}

#[staunch::retry(when = is_transient)]
async fn fetch() -> Result<(), staunch::Rejected> {
    Ok(())
}

fn main() {}
