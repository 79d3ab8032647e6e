//! A `!Send` value held across an `.await` in the body is reported on the user's line.
use std::rc::Rc;

#[staunch::retry(max = 2)]
#[staunch::timeout("1s")]
async fn fetch() -> Result<usize, staunch::Rejected> {
    let shared = Rc::new(5);
    tokio::task::yield_now().await;
    Ok(*shared)
}

fn assert_send<F: Future + Send>(_: F) {}

fn main() {
    assert_send(fetch());
}
