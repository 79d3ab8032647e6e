//! Programs outside Rust that some tests drive (`promtool`, `chromium`): a test runs when the
//! program is found and says it skipped when it is not, so the tests pass on a machine without
//! them; CI sets `CI_REQUIRE_PROGRAMS=1` (`.ci/run` installs them), which makes a missing
//! program a failure. (Not a `STAUNCH_` variable: those are settings.)

use std::path::PathBuf;

/// The path of `program` on `PATH`; `None` (and a line saying the test skipped) when it is
/// missing, unless CI requires it.
///
/// # Panics
/// When the program is missing and `CI_REQUIRE_PROGRAMS` is set.
pub fn find(program: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI_REQUIRE_PROGRAMS").is_none(),
            "{test}: `{program}` is not on PATH, and CI_REQUIRE_PROGRAMS is set"
        );
        println!("{test}: skipped, `{program}` is not on PATH");
    }
    found
}

/// Runs `promtool check metrics` on an exposition; returns what it reported (empty: clean).
pub fn promtool_check(promtool: &std::path::Path, exposition: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        report
    } else {
        format!("promtool failed ({}): {report}", output.status)
    }
}
