//! The duration parser of the macros (`"100ms"`, `"1m30s"`): never panics, and what it
//! accepts adds up (a parsed text followed by another parses to the sum, or is "too large").
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

// A proc-macro crate cannot be linked into another crate: its parser is compiled in here.
#[allow(dead_code)]
#[path = "../../macros/src/duration.rs"]
mod duration;

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    let (Ok(x), Ok(y)) = (duration::parse(a), duration::parse(b)) else {
        return;
    };
    // The same duration written in nanoseconds parses back to itself.
    if let Ok(nanos) = u64::try_from(x.as_nanos()) {
        assert_eq!(duration::parse(&format!("{nanos}ns")), Ok(x), "{a:?}");
    }
    let both = duration::parse(&format!("{a} {b}"));
    match x.checked_add(y) {
        Some(sum) => assert_eq!(both, Ok(sum), "{a:?} + {b:?}"),
        None => assert!(
            both.is_err_and(|e| e.contains("too large")),
            "{a:?} + {b:?}"
        ),
    }
    assert!(x <= Duration::MAX);
});
