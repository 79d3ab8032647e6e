//! Heap allocations per call of every case of the `layers` benchmark, counted exactly by a
//! counting allocator (staunch's own zero is asserted by the test suite, tests/allocations.rs).
//!
//! ```sh
//! cargo bench -p staunch-benches --bench allocations
//! ```

mod cases;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cases::Visitor;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the thread-locals are
// const-initialised `Cell`s, which neither allocate nor run destructors.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Calls counted per case, after one uncounted call that resolves the call site.
const CALLS: u32 = 1000;

struct Counted<'a> {
    rt: &'a tokio::runtime::Runtime,
    group: String,
}

impl Visitor for Counted<'_> {
    fn group(&mut self, name: &str) {
        name.clone_into(&mut self.group);
    }

    fn case<S, F>(&mut self, name: &str, ok: bool, state: S, call: F)
    where
        S: Clone,
        F: AsyncFn(&mut S, u64) -> Option<u64>,
    {
        let mut state = state.clone();
        let count = self.rt.block_on(async {
            let answer = call(&mut state, 1).await;
            assert_eq!(
                answer.is_some(),
                ok,
                "{}/{name}: unexpected outcome",
                self.group
            );
            COUNT.with(|c| c.set(0));
            COUNTING.with(|c| c.set(true));
            for _ in 0..CALLS {
                std::hint::black_box(call(&mut state, 1).await);
            }
            COUNTING.with(|c| c.set(false));
            COUNT.with(Cell::get)
        });
        println!(
            "{:<28} {name:<24} {:>6.2}",
            self.group,
            f64::from(u32::try_from(count).unwrap_or(u32::MAX)) / f64::from(CALLS)
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    println!("{:<28} {:<24} {:>6}", "group", "case", "allocs/call");
    let mut counted = Counted {
        rt: &rt,
        group: String::new(),
    };
    cases::visit(&rt, &mut counted);
}
