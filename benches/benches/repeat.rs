//! Runs one case of the `layers` benchmark a given number of times and nothing else, for
//! `valgrind --tool=callgrind` (see benches/instructions.sh): the difference between two runs
//! of N and 2N calls is the exact instruction count of N calls.
//!
//! ```sh
//! repeat --list                        # every case, as group/case
//! repeat breaker_closed_rate/staunch 10000
//! ```
//! Without arguments (as under `cargo bench`) it does nothing.

mod cases;

use std::hint::black_box;

use cases::Visitor;

struct Repeat<'a> {
    rt: &'a tokio::runtime::Runtime,
    /// The case to run and how many calls, or `None` to list the cases.
    run: Option<(String, u64)>,
}

impl Visitor for Repeat<'_> {
    fn case<S, F>(&mut self, group: &str, name: &str, mut state: S, call: F)
    where
        S: Clone,
        F: AsyncFn(&mut S, u64) -> Option<u64>,
    {
        let id = format!("{group}/{name}");
        let Some((wanted, calls)) = &self.run else {
            println!("{id}");
            return;
        };
        if id != *wanted {
            return;
        }
        self.rt.block_on(async {
            for _ in 0..*calls {
                black_box(call(&mut state, black_box(1)).await);
            }
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = match args.as_slice() {
        [list] if list == "--list" => None,
        [case, calls] => match calls.parse() {
            Ok(calls) => Some((case.clone(), calls)),
            Err(_) => return,
        },
        _ => return,
    };
    let rt = cases::current_thread();
    let mut repeat = Repeat { rt: &rt, run };
    cases::visit(&rt, &mut repeat);
}
