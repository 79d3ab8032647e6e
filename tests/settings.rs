//! Settings of named instances from files, the environment and a program: every option
//! round-trips, bad input is refused whole with where it was written, precedence holds, a
//! change reaches call sites that already hold their instance, and modes work end to end.

// Each test runs on a runtime of its own thread: holding the turn across its awaits only
// orders the tests that apply startup settings.
#![allow(clippy::await_holding_lock)]

mod support;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use staunch::circuit_breaker::{Mode, Trip};
use staunch::registry::InstanceKind;
use staunch::settings::{
    BreakerSettings, BulkheadSettings, InstanceSettings, RetryBudgetSettings, RetrySettings,
    Settings, Table,
};
use staunch::{Bulkhead, CircuitBreaker, CircuitState, Event, Retry, RetryBudget};
use support::{Error, ms, secs};

/// `configure` replaces the settings of startup for the whole process: the tests that apply
/// them take turns.
fn startup() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

fn toml(text: &str) -> Settings {
    Settings::from_toml(text, "staunch.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn refused(text: &str) -> String {
    match Settings::from_toml(text, "staunch.toml") {
        Ok(settings) => staunch::registry()
            .configure(settings)
            .expect_err("refused")
            .to_string(),
        Err(error) => error.to_string(),
    }
}

/// The settings a snapshot shows for `name`, written back as a file's table.
fn snapshot_as_toml(kind: &str, name: &str) -> String {
    let snapshot = serde_json::to_value(staunch::registry().snapshot()).unwrap();
    let instance = snapshot["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name && i["kind"] == kind)
        .unwrap_or_else(|| panic!("{name} not in {snapshot}"));
    let mut text = format!("[{kind}.\"{name}\"]\n");
    for (key, value) in instance["settings"].as_object().unwrap() {
        // A JSON scalar is a TOML literal.
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

#[test]
fn every_option_round_trips_file_settings_snapshot_file() {
    let _turn = startup();
    CircuitBreaker::builder("rt-consecutive")
        .build_shared()
        .unwrap();
    CircuitBreaker::builder("rt-window")
        .window(40)
        .build_shared()
        .unwrap();
    Bulkhead::builder(2)
        .name("rt-bulkhead")
        .max_wait(ms(5))
        .build_shared()
        .unwrap();
    Retry::constant().name("rt-retry").build_shared().unwrap();
    Retry::exponential()
        .name("rt-retry-exp")
        .build_shared()
        .unwrap();
    RetryBudget::builder("rt-budget").build_shared().unwrap();
    let file = r#"
        [circuit_breaker.rt-consecutive]
        mode = "observe"
        fail_max = 7
        reset = "1m30s"
        half_open = 3

        [circuit_breaker.rt-window]
        window = 40
        failure_rate = 25
        min_calls = 20
        slow_call = "1s500ms"
        slow_rate = 60
        reset = "20s"
        half_open = 2

        [bulkhead.rt-bulkhead]
        limit = 32
        max_wait = "50ms"

        [retry.rt-retry]
        max = 6
        backoff = "linear"
        base = "20ms"
        max_delay = "2s"
        jitter = "equal"
        max_elapsed = "9s"

        [retry.rt-retry-exp]
        backoff = "exp"
        factor = 1.5
        jitter = "decorrelated"

        [retry_budget.rt-budget]
        ratio = 0.5
        min_per_sec = 3
        max_balance = 40
        reject_when_exhausted = true
    "#;
    let written = toml(file);
    staunch::registry().configure(written.clone()).unwrap();
    for (kind, name, settings) in written.iter() {
        let back = toml(&snapshot_as_toml(kind.as_str(), name));
        let in_force = back.get(kind, name).unwrap();
        let mut expected = InstanceSettings::empty(kind);
        // What the file did not write is the instance's own (or the default).
        merge(&mut expected, in_force);
        merge(&mut expected, settings);
        assert_eq!(in_force, &expected, "{kind:?} {name}");
    }
    let breaker = staunch::breaker("rt-window").unwrap().config();
    assert_eq!(
        breaker.trip(),
        Trip::FailureRate {
            window: 40,
            failure_rate: 25,
            min_calls: 20
        }
    );
    assert_eq!(breaker.slow().unwrap().after, ms(1500));
    assert_eq!(
        staunch::breaker("rt-consecutive").unwrap().config().mode(),
        Mode::Observe
    );
    staunch::registry().configure(Settings::new()).unwrap();
    assert_eq!(
        staunch::breaker("rt-consecutive").unwrap().config(),
        CircuitBreaker::builder("rt-consecutive").config().unwrap(),
        "settings no longer applied fall back to the instance's own"
    );
}

/// `upper`'s keys over `lower`, through a settings value (the public way to layer them).
fn merge(lower: &mut InstanceSettings, upper: &InstanceSettings) {
    let mut a = Settings::new();
    a.insert("x", lower.clone());
    let mut b = Settings::new();
    b.insert("x", upper.clone());
    a.merge(b);
    *lower = a.get(lower.kind(), "x").unwrap().clone();
}

#[test]
fn every_rule_is_refused_by_the_file_as_the_builder_refuses_it() {
    let _turn = startup();
    CircuitBreaker::builder("rules-breaker")
        .build_shared()
        .unwrap();
    CircuitBreaker::builder("rules-window")
        .window(10)
        .build_shared()
        .unwrap();
    Bulkhead::builder(2)
        .name("rules-bulkhead")
        .build_shared()
        .unwrap();
    Retry::exponential()
        .name("rules-retry")
        .build_shared()
        .unwrap();
    RetryBudget::builder("rules-budget").build_shared().unwrap();
    let breaker = || CircuitBreaker::builder("rules-breaker");
    let window = || CircuitBreaker::builder("rules-window").window(10);
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "circuit_breaker.rules-breaker",
            "fail_max = 0",
            breaker().fail_max(0).config().unwrap_err().to_string(),
        ),
        (
            "circuit_breaker.rules-breaker",
            "half_open = 0",
            breaker().half_open(0).config().unwrap_err().to_string(),
        ),
        (
            "circuit_breaker.rules-breaker",
            "reset = \"0s\"",
            breaker()
                .reset(Duration::ZERO)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "circuit_breaker.rules-breaker",
            "min_calls = 3",
            breaker().min_calls(3).config().unwrap_err().to_string(),
        ),
        (
            "circuit_breaker.rules-window",
            "failure_rate = 101",
            window().failure_rate(101).config().unwrap_err().to_string(),
        ),
        (
            "circuit_breaker.rules-window",
            "min_calls = 11",
            window().min_calls(11).config().unwrap_err().to_string(),
        ),
        (
            "circuit_breaker.rules-window",
            "slow_rate = 50",
            window().slow_rate(50).config().unwrap_err().to_string(),
        ),
        (
            "circuit_breaker.rules-window",
            "slow_call = \"0s\"",
            window()
                .slow_call(Duration::ZERO)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "bulkhead.rules-bulkhead",
            "limit = 0",
            Bulkhead::builder(0)
                .name("rules-bulkhead")
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "bulkhead.rules-bulkhead",
            "limit = 536870912",
            Bulkhead::builder(536_870_912)
                .name("rules-bulkhead")
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry.rules-retry",
            "max = 0",
            Retry::exponential()
                .max_attempts(0)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry.rules-retry",
            "factor = 0.5",
            Retry::exponential()
                .factor(0.5)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry.rules-retry",
            "backoff = \"constant\"\nfactor = 3",
            Retry::constant()
                .factor(3.0)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry.rules-retry",
            "base = \"5s\"\nmax_delay = \"1s\"",
            Retry::exponential()
                .base(secs(5))
                .max_delay(secs(1))
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry.rules-retry",
            "max_delay = \"0s\"",
            Retry::exponential()
                .max_delay(Duration::ZERO)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry.rules-retry",
            "max_elapsed = \"0s\"",
            Retry::exponential()
                .max_elapsed(Duration::ZERO)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry_budget.rules-budget",
            "ratio = 1.5",
            RetryBudget::builder("rules-budget")
                .ratio(1.5)
                .config()
                .unwrap_err()
                .to_string(),
        ),
        (
            "retry_budget.rules-budget",
            "max_balance = 0",
            RetryBudget::builder("rules-budget")
                .max_balance(0)
                .config()
                .unwrap_err()
                .to_string(),
        ),
    ];
    for (table, lines, builder) in cases {
        let error = refused(&format!("[{table}]\n{lines}\n"));
        // The builder says "`key` <reason>"; the file names the key in its path.
        let (key, reason) = builder
            .strip_prefix('`')
            .and_then(|rest| rest.split_once("` "))
            .map_or(("", builder.as_str()), |(key, reason)| (key, reason));
        let reason = if key.is_empty() {
            builder.clone()
        } else {
            reason.to_owned()
        };
        assert!(
            error.contains(&format!("{table}.")) && error.ends_with(&reason),
            "{lines}: the file says {error:?}, the builder {builder:?}"
        );
    }
    assert_eq!(
        staunch::breaker("rules-breaker").unwrap().config(),
        breaker().config().unwrap(),
        "nothing refused was applied"
    );
}

#[test]
fn a_bad_file_names_the_file_line_column_instance_key_and_reason_and_changes_nothing() {
    let _turn = startup();
    let breaker = CircuitBreaker::builder("bad-file")
        .fail_max(5)
        .build_shared()
        .unwrap();
    let error = Settings::from_toml(
        "[circuit_breaker.bad-file]\nfail_max = 3\nrset = \"20s\"\nhalf_open = \"two\"\n",
        "conf/staunch.toml",
    )
    .unwrap_err();
    let lines: Vec<String> = error.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "conf/staunch.toml:4:1: circuit_breaker.bad-file.half_open: takes a whole number, like `half_open = 5`, not the string \"two\"",
            "conf/staunch.toml:3:1: circuit_breaker.bad-file.rset: unknown key `rset`; did you mean `reset`?",
        ]
    );
    let unknown =
        refused("[circuit_breaker.bad-fil]\nfail_max = 3\n[bulkhead.bad-file]\nlimit = 3\n");
    assert!(
        unknown.contains("staunch.toml:1:18: circuit_breaker.bad-fil: no circuit breaker is named `bad-fil`; did you mean `bad-file`?"),
        "{unknown}"
    );
    assert!(
        unknown.contains("bulkhead.bad-file: no bulkhead is named `bad-file`"),
        "{unknown}"
    );
    let kind = refused("[circuit_breakr.bad-file]\nfail_max = 3\n");
    assert_eq!(
        kind,
        "staunch.toml:1:2: unknown kind `circuit_breakr`; did you mean `circuit_breaker`?"
    );
    let syntax = refused("[circuit_breaker.bad-file]\nfail_max = = 3\n");
    assert!(syntax.starts_with("staunch.toml:2:"), "{syntax}");
    assert!(syntax.contains("not TOML"), "{syntax}");
    assert_eq!(breaker.config().trip(), Trip::Consecutive { fail_max: 5 });
}

#[test]
fn settings_are_applied_all_or_nothing() {
    let _turn = startup();
    let good = CircuitBreaker::builder("all-or-nothing-good")
        .build_shared()
        .unwrap();
    CircuitBreaker::builder("all-or-nothing-bad")
        .window(10)
        .build_shared()
        .unwrap();
    let error = staunch::registry()
        .configure(toml(
            "[circuit_breaker.all-or-nothing-good]\nfail_max = 2\n\
             [circuit_breaker.all-or-nothing-bad]\nmin_calls = 50\n",
        ))
        .unwrap_err();
    assert_eq!(error.errors().len(), 1, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("staunch.toml:4:1: circuit_breaker.all-or-nothing-bad.min_calls: "),
        "{error}"
    );
    assert_eq!(
        good.config().trip(),
        Trip::Consecutive { fail_max: 5 },
        "the good table is not applied alone"
    );
    let running = staunch::registry()
        .change(toml("[circuit_breaker.all-or-nothing-good]\nwindow = 10\n"))
        .unwrap_err();
    assert!(
        running
            .to_string()
            .contains("a running breaker keeps its trip policy"),
        "{running}"
    );
}

#[test]
fn hostile_files_get_a_clear_error_and_never_a_panic() {
    let _turn = startup();
    CircuitBreaker::builder("hostile-file")
        .build_shared()
        .unwrap();
    for (text, says) in [
        (
            "[circuit_breaker.hostile-file]\nfail_max = 99999999999999999999\n",
            "must be at most 4294967295, got 99999999999999999999",
        ),
        (
            "[circuit_breaker.hostile-file]\nfail_max = 170141183460469231731687303715884105728\n",
            "not a number too large",
        ),
        (
            "[circuit_breaker.hostile-file]\nfail_max = -3\n",
            "must be at least 1, got -3",
        ),
        (
            "[circuit_breaker.hostile-file]\nreset = \"-1s\"\n",
            "invalid duration \"-1s\"",
        ),
        (
            "[circuit_breaker.hostile-file]\nreset = \"99999999999999999999h\"\n",
            "invalid duration",
        ),
        (
            "[circuit_breaker.hostile-file]\nreset = 30\n",
            "takes a duration as a string, like `reset = \"2s\"`",
        ),
        (
            "[circuit_breaker.hostile-file]\nfail_max = 3\n[circuit_breaker.hostile-file]\nfail_max = 4\n",
            "not TOML",
        ),
        (
            "circuit_breaker = 3\n",
            "`circuit_breaker` must be a table of instances",
        ),
        (
            "[circuit_breaker]\nhostile-file = 3\n",
            "`circuit_breaker.hostile-file` must be a table of settings",
        ),
        (
            "[circuit_breaker.hostile-file]\nfail_max = [1, 2]\n",
            "not an array",
        ),
        (
            "[circuit_breaker.hostile-file.deeper]\nfail_max = 3\n",
            "unknown key `deeper`",
        ),
        (
            "[circuit_breaker.hostile-file]\nmode = \"enforcing\"\n",
            "did you mean \"enforce\"?",
        ),
    ] {
        let error = refused(text);
        assert!(error.contains(says), "{text:?}: {error}");
    }

    let dir = std::env::temp_dir().join(format!("staunch-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let huge = dir.join("huge.toml");
    let line = "# a comment that pads the file\n";
    std::fs::write(&huge, line.repeat(10 * 1024 * 1024 / line.len())).unwrap();
    let error = Settings::load(&huge).unwrap_err().to_string();
    assert!(error.contains("larger than 1048576 bytes"), "{error}");
    assert!(error.starts_with(&huge.display().to_string()), "{error}");
    let binary = dir.join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, b'[', 0x80]).unwrap();
    let error = Settings::load(&binary).unwrap_err().to_string();
    assert!(error.contains("valid UTF-8"), "{error}");
    let missing = Settings::load(dir.join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("cannot read the settings file"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[staunch::circuit_breaker(name = "precedence", fail_max = 6, reset = "30s")]
async fn precedence_site() -> Result<(), Error> {
    Ok(())
}

#[tokio::test]
async fn precedence_run_time_over_startup_over_build_shared_over_the_attribute() {
    let _turn = startup();
    let fail_max = || match staunch::breaker("precedence").unwrap().config().trip() {
        Trip::Consecutive { fail_max } => fail_max,
        Trip::FailureRate { .. } => unreachable!(),
    };
    precedence_site().await.unwrap();
    let breaker = staunch::breaker("precedence").unwrap();
    assert_eq!(fail_max(), 6, "the attribute's literal");

    let built = CircuitBreaker::builder("precedence")
        .fail_max(5)
        .reset(secs(30))
        .build_shared()
        .unwrap();
    assert!(std::ptr::eq(built, breaker));
    assert_eq!(fail_max(), 5, "build_shared over the attribute");

    staunch::registry()
        .configure(toml("[circuit_breaker.precedence]\nfail_max = 4\n"))
        .unwrap();
    assert_eq!(fail_max(), 4, "startup over build_shared");

    let mut change = Settings::new();
    change.insert(
        "precedence",
        BreakerSettings {
            fail_max: Some(3),
            ..Default::default()
        },
    );
    staunch::registry().change(change).unwrap();
    assert_eq!(fail_max(), 3, "run time over startup");

    staunch::registry()
        .configure(toml(
            "[circuit_breaker.precedence]\nfail_max = 2\nreset = \"10s\"\n",
        ))
        .unwrap();
    assert_eq!(
        fail_max(),
        3,
        "a file re-read stays under the run-time change"
    );
    assert_eq!(
        breaker.config().reset(),
        secs(10),
        "and changes what it alone sets"
    );

    staunch::registry().configure(Settings::new()).unwrap();
    assert_eq!(
        breaker.config().reset(),
        secs(30),
        "startup settings dropped: build_shared's"
    );
    assert_eq!(fail_max(), 3);
}

#[staunch::bulkhead(name = "live-bulkhead", limit = 1)]
async fn held(gate: std::sync::Arc<tokio::sync::Notify>) -> Result<(), Error> {
    gate.notified().await;
    Ok(())
}

#[tokio::test]
async fn a_change_reaches_a_call_site_that_already_holds_its_instance() {
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    let first = tokio::spawn(held(gate.clone()));
    tokio::task::yield_now().await;
    let refused = held(gate.clone()).await;
    assert!(matches!(
        refused,
        Err(Error::Rejected(staunch::Rejected::BulkheadFull { .. }))
    ));

    let table: Table = serde_json::from_str(r#"{"limit": 2}"#).unwrap();
    let now = staunch::registry()
        .change_instance("live-bulkhead", &table)
        .unwrap();
    assert_eq!(
        now,
        InstanceSettings::Bulkhead(BulkheadSettings {
            limit: Some(2),
            max_wait: Some(Duration::ZERO)
        })
    );
    let second = tokio::spawn(held(gate.clone()));
    tokio::task::yield_now().await;
    assert_eq!(
        staunch::bulkhead("live-bulkhead")
            .unwrap()
            .metrics()
            .in_flight,
        2
    );
    gate.notify_waiters();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();

    let bad: Table =
        serde_json::from_str(r#"{"limit": 0, "max_wiat": "1s", "max_wait": "5ms"}"#).unwrap();
    let error = staunch::registry()
        .change_instance("live-bulkhead", &bad)
        .unwrap_err();
    let reasons: Vec<String> = error.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "bulkhead.live-bulkhead.limit: must be at least 1, got 0",
            "bulkhead.live-bulkhead.max_wiat: unknown key `max_wiat`; did you mean `max_wait`?",
        ]
    );
    assert_eq!(
        staunch::bulkhead("live-bulkhead").unwrap().metrics().limit,
        2
    );
    let unknown = staunch::registry()
        .change_instance("live-bulkhed", &table)
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("did you mean `live-bulkhead`?"),
        "{unknown}"
    );
}

#[staunch::retry(max = 2, backoff = "constant", base = "1ms", jitter = "none")]
async fn retried(calls: &std::sync::atomic::AtomicU32) -> Result<u32, Error> {
    let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if n < 4 { Err(Error::Down) } else { Ok(n) }
}

#[tokio::test(start_paused = true)]
async fn a_retry_attribute_takes_the_settings_of_its_name_from_its_first_failure() {
    let _turn = startup();
    let name = concat!(module_path!(), "::retried");
    // Declared by the attribute: known before its first call.
    staunch::registry()
        .configure(toml(&format!("[retry.\"{name}\"]\nmax = 4\n")))
        .unwrap();
    let calls = std::sync::atomic::AtomicU32::new(0);
    assert_eq!(
        retried(&calls).await.unwrap(),
        4,
        "four attempts, not the attribute's two"
    );
    let snapshot = staunch::registry().snapshot();
    let entry = snapshot.instances.iter().find(|i| i.name == name).unwrap();
    assert!(matches!(
        &entry.settings,
        InstanceSettings::Retry(RetrySettings { max: Some(4), .. })
    ));
    staunch::registry().configure(Settings::new()).unwrap();
}

#[staunch::circuit_breaker(name = "observed", fail_max = 1, reset = "10s")]
async fn observed(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn observe_records_and_changes_state_but_never_rejects() {
    let _turn = startup();
    staunch::registry()
        .configure(toml("[circuit_breaker.observed]\nmode = \"observe\"\n"))
        .unwrap();
    let breaker = staunch::breaker("observed").unwrap();
    let mut events = breaker.events();
    assert_eq!(observed(true).await, Err(Error::Down));
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "it opens as it would enforcing"
    );
    for _ in 0..3 {
        assert_eq!(
            observed(false).await,
            Ok(()),
            "and still lets calls through"
        );
    }
    assert_eq!(breaker.metrics().rejected_total, 0);
    assert_eq!(
        breaker.metrics().observed_rejections,
        3,
        "what enforcing would have refused"
    );
    tokio::time::advance(secs(10)).await;
    assert_eq!(observed(false).await, Ok(()));
    assert_eq!(breaker.state(), CircuitState::Closed, "a trial closes it");
    let transitions: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            Event::Transition { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        [
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Closed),
        ]
    );

    // Enforcing again: the next failure opens it and it rejects.
    staunch::registry().configure(Settings::new()).unwrap();
    assert_eq!(observed(true).await, Err(Error::Down));
    assert!(matches!(observed(false).await, Err(Error::Rejected(_))));
}

#[staunch::circuit_breaker(name = "disabled", fail_max = 1, reset = "10s")]
async fn disabled(fail: bool) -> Result<(), Error> {
    if fail { Err(Error::Down) } else { Ok(()) }
}

#[tokio::test(start_paused = true)]
async fn disabled_passes_every_call_and_records_nothing() {
    let _turn = startup();
    assert_eq!(disabled(true).await, Err(Error::Down));
    let breaker = staunch::breaker("disabled").unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
    let mut change = Settings::new();
    change.insert(
        "disabled",
        BreakerSettings {
            mode: Some(Mode::Disabled),
            ..Default::default()
        },
    );
    staunch::registry().change(change).unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed, "disabling closes it");
    let failures = breaker.metrics().failures;
    for _ in 0..5 {
        assert_eq!(disabled(true).await, Err(Error::Down));
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().failures, failures, "nothing recorded");
    // Opened by the fleet, or by hand: still every call passes, and no trial is started.
    breaker.adopt(staunch::circuit_breaker::SharedState::Open { remaining: secs(1) });
    assert_eq!(disabled(false).await, Ok(()));
    tokio::time::advance(secs(2)).await;
    assert_eq!(disabled(true).await, Err(Error::Down));
    assert_eq!(breaker.state(), CircuitState::Open, "no HALF_OPEN trial");
    breaker.force_open();
    assert_eq!(disabled(false).await, Ok(()));
    assert_eq!(breaker.metrics().failures, failures);
    breaker.force_closed();
    let mut change = Settings::new();
    change.insert(
        "disabled",
        BreakerSettings {
            mode: Some(Mode::Enforce),
            ..Default::default()
        },
    );
    staunch::registry().change(change).unwrap();
    assert_eq!(disabled(true).await, Err(Error::Down));
    assert!(matches!(disabled(false).await, Err(Error::Rejected(_))));
}

#[test]
fn environment_variables_reach_every_option_of_every_instance() {
    let _turn = startup();
    CircuitBreaker::builder("env::payments")
        .build_shared()
        .unwrap();
    Bulkhead::builder(3)
        .name("env-inventory")
        .build_shared()
        .unwrap();
    let vars = [
        ("STAUNCH_CIRCUIT_BREAKER__ENV__PAYMENTS__FAIL_MAX", "3"),
        ("STAUNCH_circuit_breaker__env::payments__reset", "20s"),
        ("STAUNCH_BULKHEAD__ENV_INVENTORY__LIMIT", "9"),
        ("PATH", "/usr/bin"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let settings = Settings::from_vars(vars).unwrap();
    staunch::registry().configure(settings).unwrap();
    let breaker = staunch::breaker("env::payments").unwrap().config();
    assert_eq!(
        (breaker.trip(), breaker.reset()),
        (Trip::Consecutive { fail_max: 3 }, secs(20))
    );
    assert_eq!(
        staunch::bulkhead("env-inventory").unwrap().metrics().limit,
        9
    );

    let bad = [
        ("STAUNCH_CIRCUIT_BREAKER__ENV__PAYMENT__FAIL_MAX", "3"),
        ("STAUNCH_BULKHEAD__ENV_INVENTORY__LIMT", "9"),
        ("STAUNCH_BULKHEADS__ENV_INVENTORY__LIMIT", "9"),
        ("STAUNCH_LIMIT", "9"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let error = Settings::from_vars(bad).unwrap_err().to_string();
    for says in [
        "environment variable STAUNCH_CIRCUIT_BREAKER__ENV__PAYMENT__FAIL_MAX: circuit_breaker.ENV__PAYMENT: no circuit breaker is named like `ENV__PAYMENT`",
        "environment variable STAUNCH_BULKHEAD__ENV_INVENTORY__LIMT: bulkhead.env-inventory.limt: unknown key `limt`; did you mean `limit`?",
        "environment variable STAUNCH_BULKHEADS__ENV_INVENTORY__LIMIT: unknown kind `bulkheads`; did you mean `bulkhead`?",
        "environment variable STAUNCH_LIMIT: expected STAUNCH_<KIND>__<NAME>__<KEY>",
    ] {
        assert!(error.contains(says), "{says}\nin\n{error}");
    }
    staunch::registry().configure(Settings::new()).unwrap();
}

#[test]
fn a_file_and_the_environment_reach_rate_limiters_hedges_and_caches() {
    let _turn = startup();
    let limiter = staunch::RateLimiter::builder(10, secs(1))
        .name("env-search")
        .build_shared()
        .unwrap();
    let hedge = staunch::Hedge::builder()
        .name("env-hedge")
        .build_shared()
        .unwrap();
    let cache = staunch::Cache::builder(secs(30))
        .name("env-cache")
        .build_shared()
        .unwrap();
    let file = toml(
        r#"
[rate_limit.env-search]
rate = "600/m"
burst = 20

[hedge.env-hedge]
delay = "40ms"

[cache.env-cache]
ttl = "1m"
stale = "10m"
"#,
    );
    staunch::registry().configure(file).unwrap();
    assert_eq!(
        (
            limiter.config().calls(),
            limiter.config().period(),
            limiter.config().burst()
        ),
        (600, secs(60), 20)
    );
    assert_eq!(hedge.config().delay(), ms(40));
    assert_eq!(
        (cache.config().ttl(), cache.config().stale()),
        (secs(60), secs(600))
    );

    let vars = [
        ("STAUNCH_RATE_LIMIT__ENV_SEARCH__RATE", "5/s"),
        ("STAUNCH_RATE_LIMIT__ENV_SEARCH__MAX_WAIT", "250ms"),
        ("STAUNCH_HEDGE__ENV_HEDGE__MAX", "3"),
        ("STAUNCH_CACHE__ENV_CACHE__TTL", "5s"),
        ("STAUNCH_CACHE__ENV_CACHE__CAPACITY", "50"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    staunch::registry()
        .configure(Settings::from_vars(vars).unwrap())
        .unwrap();
    let rate = limiter.config();
    assert_eq!(
        (rate.calls(), rate.period(), rate.max_wait()),
        (5, secs(1), ms(250))
    );
    assert_eq!(hedge.config().max(), 3);
    let cached = cache.config();
    assert_eq!(
        (cached.ttl(), cached.stale(), cached.capacity()),
        (secs(5), secs(5), 50),
        "the file's stale is no longer applied: no stale answers"
    );

    // A value out of range is refused as it is read; a stale shorter than the ttl when the
    // settings are applied, and nothing changes.
    let zero =
        [("STAUNCH_RATE_LIMIT__ENV_SEARCH__BURST", "0")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    let error = Settings::from_vars(zero).unwrap_err().to_string();
    assert!(
        error.contains("rate_limit.env-search.burst: must be at least 1"),
        "{error}"
    );
    let shorter = [
        ("STAUNCH_CACHE__ENV_CACHE__TTL", "1m"),
        ("STAUNCH_CACHE__ENV_CACHE__STALE", "10s"),
        ("STAUNCH_RATE_LIMIT__ENV_SEARCH__RATE", "1/s"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let error = staunch::registry()
        .configure(Settings::from_vars(shorter).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cache.env-cache.stale: must be at least `ttl`"),
        "{error}"
    );
    assert_eq!(cache.config().ttl(), secs(5), "nothing changed");
    assert_eq!(limiter.config().calls(), 5);
    staunch::registry().configure(Settings::new()).unwrap();
}

#[test]
fn the_snapshot_shows_settings_in_force_under_the_options_names() {
    CircuitBreaker::builder("snapshot-settings")
        .fail_max(4)
        .reset(secs(90))
        .build_shared()
        .unwrap();
    let snapshot = serde_json::to_value(staunch::registry().snapshot()).unwrap();
    let entry = snapshot["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "snapshot-settings")
        .unwrap();
    assert_eq!(
        entry["settings"],
        serde_json::json!({"mode": "enforce", "fail_max": 4, "reset": "1m30s", "half_open": 1})
    );
    assert_eq!(entry["state"], "closed");
}

#[test]
fn settings_of_a_kind_reach_only_that_kind_and_budget_changes_keep_the_balance_bounded() {
    let budget = RetryBudget::builder("budget-change")
        .max_balance(10)
        .build_shared()
        .unwrap();
    let mut change = Settings::new();
    change.insert(
        "budget-change",
        RetryBudgetSettings {
            max_balance: Some(2),
            reject_when_exhausted: Some(true),
            ..Default::default()
        },
    );
    staunch::registry().change(change).unwrap();
    assert!(budget.try_withdraw() && budget.try_withdraw());
    assert!(
        !budget.try_withdraw(),
        "the balance was cut to the new maximum"
    );
    assert!(budget.config().rejects_when_exhausted());
    assert_eq!(
        staunch::registry().settings_in_force(InstanceKind::RetryBudget, "budget-change"),
        Some(InstanceSettings::RetryBudget(RetryBudgetSettings {
            ratio: Some(0.2),
            min_per_sec: Some(10),
            max_balance: Some(2),
            reject_when_exhausted: Some(true),
        }))
    );
}

#[tokio::test(start_paused = true)]
async fn a_watched_file_is_applied_when_it_changes_and_a_bad_version_changes_nothing() {
    let _turn = startup();
    let breaker = CircuitBreaker::builder("watched").build_shared().unwrap();
    let path = std::env::temp_dir().join(format!("staunch-watched-{}.toml", std::process::id()));
    let write = |text: &str| std::fs::write(&path, text).unwrap();
    let reset = || breaker.config().reset();
    write("[circuit_breaker.watched]\nreset = \"7s\"\n");
    let watcher = staunch::registry().watch_file(&path, secs(1));
    tokio::time::sleep(ms(10)).await;
    assert_eq!(reset(), secs(7), "applied at once");

    write("[circuit_breaker.watched]\nreset = \"8s\"\n");
    tokio::time::sleep(secs(1)).await;
    assert_eq!(reset(), secs(8), "applied within a period of the change");

    write("[circuit_breaker.watched]\nrest = \"9s\"\n");
    tokio::time::sleep(secs(2)).await;
    assert_eq!(reset(), secs(8), "a bad version changes nothing");

    write("[circuit_breaker.watched]\n");
    tokio::time::sleep(secs(2)).await;
    assert_eq!(reset(), secs(60), "a key no longer written falls back");
    watcher.abort();
    std::fs::remove_file(&path).unwrap();
    staunch::registry().configure(Settings::new()).unwrap();
}

/// The attribute's refusals (the trybuild cases' messages) are the file's: a table holding the
/// case's arguments is refused with the same words, naming the key.
#[test]
fn the_file_refuses_what_the_attribute_refuses_with_its_words() {
    let _turn = startup();
    let cases = [
        (
            "breaker_fail_max_with_window",
            include_str!("ui/fail/breaker_fail_max_with_window.rs"),
            include_str!("ui/fail/breaker_fail_max_with_window.stderr"),
        ),
        (
            "breaker_failure_rate_out_of_range",
            include_str!("ui/fail/breaker_failure_rate_out_of_range.rs"),
            include_str!("ui/fail/breaker_failure_rate_out_of_range.stderr"),
        ),
        (
            "breaker_failure_rate_without_window",
            include_str!("ui/fail/breaker_failure_rate_without_window.rs"),
            include_str!("ui/fail/breaker_failure_rate_without_window.stderr"),
        ),
        (
            "breaker_half_open_zero",
            include_str!("ui/fail/breaker_half_open_zero.rs"),
            include_str!("ui/fail/breaker_half_open_zero.stderr"),
        ),
        (
            "breaker_min_calls_above_window",
            include_str!("ui/fail/breaker_min_calls_above_window.rs"),
            include_str!("ui/fail/breaker_min_calls_above_window.stderr"),
        ),
        (
            "breaker_reset_zero",
            include_str!("ui/fail/breaker_reset_zero.rs"),
            include_str!("ui/fail/breaker_reset_zero.stderr"),
        ),
        (
            "breaker_slow_rate_without_slow_call",
            include_str!("ui/fail/breaker_slow_rate_without_slow_call.rs"),
            include_str!("ui/fail/breaker_slow_rate_without_slow_call.stderr"),
        ),
        (
            "bulkhead_limit_above_max",
            include_str!("ui/fail/bulkhead_limit_above_max.rs"),
            include_str!("ui/fail/bulkhead_limit_above_max.stderr"),
        ),
        (
            "bulkhead_limit_zero",
            include_str!("ui/fail/bulkhead_limit_zero.rs"),
            include_str!("ui/fail/bulkhead_limit_zero.stderr"),
        ),
        (
            "retry_base_above_max_delay",
            include_str!("ui/fail/retry_base_above_max_delay.rs"),
            include_str!("ui/fail/retry_base_above_max_delay.stderr"),
        ),
        (
            "retry_factor_below_one",
            include_str!("ui/fail/retry_factor_below_one.rs"),
            include_str!("ui/fail/retry_factor_below_one.stderr"),
        ),
        (
            "retry_factor_with_constant_backoff",
            include_str!("ui/fail/retry_factor_with_constant_backoff.rs"),
            include_str!("ui/fail/retry_factor_with_constant_backoff.stderr"),
        ),
        (
            "retry_max_zero",
            include_str!("ui/fail/retry_max_zero.rs"),
            include_str!("ui/fail/retry_max_zero.stderr"),
        ),
        (
            "retry_unknown_backoff",
            include_str!("ui/fail/retry_unknown_backoff.rs"),
            include_str!("ui/fail/retry_unknown_backoff.stderr"),
        ),
        (
            "retry_unknown_jitter_typo",
            include_str!("ui/fail/retry_unknown_jitter_typo.rs"),
            include_str!("ui/fail/retry_unknown_jitter_typo.stderr"),
        ),
    ];
    for (case, source, stderr) in cases {
        let attribute = stderr
            .lines()
            .next()
            .unwrap()
            .strip_prefix("error: ")
            .unwrap();
        // `#[staunch::KIND(ARGS)]`: the same arguments as a file's table.
        let line = source
            .lines()
            .find(|l| l.starts_with("#[staunch::"))
            .unwrap();
        let (kind, args) = line["#[staunch::".len()..]
            .trim_end_matches(")]")
            .split_once('(')
            .unwrap();
        let name = format!("parity-{case}");
        let window = args
            .split(", ")
            .find_map(|arg| arg.strip_prefix("window = "))
            .map(|w| w.parse::<u32>().unwrap());
        let table = match kind {
            "circuit_breaker" => {
                let builder = CircuitBreaker::builder(name.clone());
                match window {
                    Some(w) => builder.window(w).build_shared(),
                    None => builder.build_shared(),
                }
                .map(drop)
                .unwrap();
                "circuit_breaker"
            }
            "bulkhead" => {
                Bulkhead::builder(1)
                    .name(name.clone())
                    .build_shared()
                    .unwrap();
                "bulkhead"
            }
            _ => {
                Retry::exponential()
                    .name(name.clone())
                    .build_shared()
                    .unwrap();
                "retry"
            }
        };
        let text = format!("[{table}.{name}]\n{}\n", args.replace(", ", "\n"));
        let error = match Settings::from_toml(&text, "staunch.toml") {
            Ok(settings) => staunch::registry().configure(settings).unwrap_err(),
            Err(error) => error,
        };
        let refused = &error.errors()[0];
        let key = refused.key.as_deref().unwrap();
        let words = if refused.reason.starts_with("must") {
            format!("`{key}` {}", refused.reason)
        } else {
            refused.reason.clone()
        };
        assert!(
            words.starts_with(attribute),
            "{case}: the attribute says {attribute:?}, the file {words:?}"
        );
    }
}
