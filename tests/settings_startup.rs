//! Settings applied before any instance of the program exists, as a service applies its file
//! at startup: in a test binary of its own, so nothing else creates the instances first.

mod support;

use staunch::CircuitState;
use staunch::circuit_breaker::Trip;
use staunch::settings::{InstanceSettings, RetrySettings, Settings, Table};
use support::Error;

#[staunch::circuit_breaker(name = "reshaped", fail_max = 3, reset = "10s")]
async fn reshaped(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[staunch::retry(max = 2, backoff = "constant", base = "1ms", jitter = "none")]
async fn not_failed_yet(calls: &std::sync::atomic::AtomicU32) -> Result<u32, Error> {
    // Attempts 1, 2, 4 and 5 fail; 3 and 6 succeed.
    let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if n % 3 == 0 { Ok(n) } else { Err(Error::Down) }
}

#[tokio::test(start_paused = true)]
async fn settings_at_startup_can_change_what_an_instance_is_before_it_runs() {
    // A file turns a consecutive breaker into a failure-rate one (nothing ran under the
    // attribute's trip policy yet) and gives a `#[retry]` function that never failed more
    // attempts: both are declared, so both are known.
    let name = concat!(module_path!(), "::not_failed_yet");
    let settings = Settings::from_toml(
        &format!("[circuit_breaker.reshaped]\nwindow = 4\nfailure_rate = 50\n[retry.\"{name}\"]\nmax = 3\n"),
        "staunch.toml",
    )
    .unwrap();
    staunch::registry().configure(settings).unwrap();
    let calls = std::sync::atomic::AtomicU32::new(0);
    assert_eq!(
        not_failed_yet(&calls).await,
        Ok(3),
        "three attempts, not two"
    );
    let table: Table = serde_json::from_str(r#"{"max": 1}"#).unwrap();
    let now = staunch::registry().change_instance(name, &table).unwrap();
    assert!(matches!(
        now,
        InstanceSettings::Retry(RetrySettings { max: Some(1), .. })
    ));
    assert_eq!(
        not_failed_yet(&calls).await,
        Err(Error::Down),
        "one attempt, where three would reach the sixth, which succeeds"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 4);

    let breaker = staunch::breaker("reshaped").expect("created with the settings");
    assert_eq!(
        breaker.config().trip(),
        Trip::FailureRate {
            window: 4,
            failure_rate: 50,
            min_calls: 4
        }
    );
    for fail in [true, false, true] {
        let _ = reshaped(fail).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Closed,
        "3 calls: under min_calls"
    );
    let _ = reshaped(false).await;
    assert_eq!(breaker.state(), CircuitState::Open, "2 of 4 failed: 50 %");

    // Now it runs: its trip policy stays.
    let again =
        Settings::from_toml("[circuit_breaker.reshaped]\nfail_max = 2\n", "staunch.toml").unwrap();
    let error = staunch::registry().configure(again).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("a running breaker keeps its trip policy"),
        "{error}"
    );
}
