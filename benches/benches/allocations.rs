//! Heap allocations per call of every case of the `layers` benchmark, counted exactly by a
//! counting allocator (staunch's own zero is asserted by the test suite, tests/allocations.rs).
//!
//! ```sh
//! cargo bench -p staunch-benches --bench allocations
//! ```

mod cases;

use cases::Visitor;

#[path = "../../tests/support/counting_alloc.rs"]
mod counting_alloc;

/// Calls counted per case, after the uncounted checking call that resolves the call site.
const CALLS: u32 = 1000;

struct Counted<'a> {
    rt: &'a tokio::runtime::Runtime,
}

impl Visitor for Counted<'_> {
    fn case<S, F>(&mut self, group: &str, name: &str, mut state: S, call: F)
    where
        S: Clone,
        F: AsyncFn(&mut S, u64) -> Option<u64>,
    {
        let count = self.rt.block_on(counting_alloc::allocations_during(async {
            for _ in 0..CALLS {
                std::hint::black_box(call(&mut state, 1).await);
            }
        }));
        println!(
            "{group:<28} {name:<24} {:>6.2}",
            f64::from(u32::try_from(count).unwrap_or(u32::MAX)) / f64::from(CALLS)
        );
    }
}

fn main() {
    let rt = cases::current_thread();
    println!("{:<28} {:<24} {:>6}", "group", "case", "allocs/call");
    cases::visit(&rt, &mut Counted { rt: &rt });
}
