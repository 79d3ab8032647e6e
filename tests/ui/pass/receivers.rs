//! `mut self` compiles, and a `&mut self` method of a `Send + !Sync` type stays `Send`.
#![deny(warnings)]

use std::cell::Cell;

type Result<T> = std::result::Result<T, staunch::Rejected>;

#[derive(Clone, Default)]
struct Hop {
    hops: u32,
}

impl Hop {
    #[staunch::timeout("1s")]
    async fn once(mut self) -> Result<u32> {
        self.hops += 1;
        Ok(self.hops)
    }

    #[staunch::retry(max = 2)]
    #[staunch::circuit_breaker(fail_max = 2)]
    async fn again(mut self, mut extra: u32) -> Result<u32> {
        extra += 1;
        self.hops += extra;
        Ok(self.hops)
    }
}

#[derive(Default)]
struct Meter {
    count: Cell<u32>,
}

impl Meter {
    #[staunch::timeout("1s")]
    async fn tick(&mut self) -> Result<u32> {
        self.count.set(self.count.get() + 1);
        Ok(self.count.get())
    }

    #[staunch::retry(max = 2)]
    #[staunch::bulkhead(limit = 1)]
    async fn ticks(&mut self) -> Result<u32> {
        self.count.set(self.count.get() + 1);
        Ok(self.count.get())
    }
}

struct Report {
    lines: Vec<String>,
}

impl Report {
    /// `self` that is not the receiver keeps its meaning: `use ...::{self}`, `pub(self)`, a
    /// nested `impl`; and `ref mut` in a pattern stays `ref mut`.
    #[staunch::timeout("1s")]
    async fn add(&mut self, (ref mut count, label): (u32, String)) -> Result<usize> {
        use std::fmt::{self, Write as _};
        struct Shown;
        impl fmt::Display for Shown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("shown")
            }
        }
        #[allow(dead_code)]
        pub(self) struct Private;
        *count += 1;
        let mut line = String::new();
        let _ = write!(line, "{label} {count} {Shown}");
        self.lines.push(line);
        Ok(self.lines.len())
    }
}

fn spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    assert_eq!(Hop::default().once().await.unwrap(), 1);
    assert_eq!(Hop::default().again(1).await.unwrap(), 2);
    let mut meter = Meter::default();
    let count = spawnable(async move {
        meter.tick().await.unwrap();
        meter.ticks().await.unwrap()
    })
    .await;
    assert_eq!(count, 2);
    let mut report = Report { lines: Vec::new() };
    assert_eq!(report.add((1, "a".to_owned())).await.unwrap(), 1);
    assert_eq!(report.lines, ["a 2 shown"]);
}
