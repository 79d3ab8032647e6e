//! Compile-time behaviour of the attributes: every misuse under `tests/ui/fail` with the error a
//! user sees, and the shapes that must keep compiling under `tests/ui/pass`.
//! Refresh the snapshots with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
