//! The `metrics` feature under the recorder most services install, metrics-exporter-prometheus:
//! the exposition names every series with its help and type and passes `promtool check
//! metrics`, and calls allocate nothing with the recorder counting them.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use staunch::{Bulkhead, CircuitBreaker, Retry};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
mod support;
use counting_alloc::allocations_during;
use support::{Error, ms, programs, secs};

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.005, 0.05, 0.5, 5.0])
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
        handle
    })
}

/// Calls that make every series: successes, failures, a transition and rejections, a timed
/// call, a bulkhead's and a rate limiter's refusals, a hedged attempt, a cache's hits, misses and stale answer, retries, a sharing through Redis.
async fn scenario() {
    support::unreachable_redis();
    let breaker = CircuitBreaker::builder("prometheus-breaker")
        .fail_max(2)
        .build_shared()
        .unwrap();
    breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    for _ in 0..3 {
        let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
    }
    let timed = CircuitBreaker::builder("prometheus-timed")
        .window(10)
        .slow_call(ms(10))
        .build_shared()
        .unwrap();
    timed.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
    let bulkhead = Bulkhead::builder(1)
        .name("prometheus-bulkhead")
        .build_shared()
        .unwrap();
    bulkhead
        .call(|| async {
            let refused = bulkhead.call(|| async { Ok::<_, Error>(()) }).await;
            assert!(refused.is_err());
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let limiter = staunch::RateLimiter::builder(1, std::time::Duration::from_secs(60))
        .name("prometheus-rate-limit")
        .build_shared()
        .unwrap();
    limiter.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    let hedge = staunch::Hedge::builder()
        .name("prometheus-hedge")
        .delay(ms(1))
        .build()
        .unwrap();
    hedge
        .call(|| async {
            tokio::time::sleep(ms(5)).await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    let cache = staunch::Cache::builder(ms(1))
        .stale(secs(1))
        .name("prometheus-cache")
        .build_shared()
        .unwrap();
    for up in [true, true, false] {
        tokio::time::sleep(ms(1)).await;
        let answer = if up { Ok(1) } else { Err(Error::Down) };
        let _ = cache.call((), || async move { answer }).await;
        let _ = cache.call((), || async { Ok::<_, Error>(1) }).await;
    }
    let retry = Retry::exponential()
        .name("prometheus-retry")
        .max_attempts(2)
        .base(ms(1))
        .build()
        .unwrap();
    let _ = retry.call(|| async { Err::<(), _>(Error::Down) }).await;
    retry.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_exposition_names_every_series_and_passes_promtool() {
    let handle = handle();
    scenario().await;
    staunch::metrics::publish();
    let exposition = handle.render();
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("metrics-exposition.txt"), &exposition).unwrap();
    for name in staunch::metrics::NAMES {
        assert!(
            exposition.contains(&format!("# HELP {name} ")),
            "{name} is described:\n{exposition}"
        );
        assert!(
            exposition.contains(&format!("# TYPE {name} ")),
            "{name} is typed:\n{exposition}"
        );
    }
    for line in [
        r#"staunch_calls_total{name="prometheus-breaker",layer="circuit_breaker",outcome="failure"} 2"#,
        r#"staunch_calls_total{name="prometheus-breaker",layer="circuit_breaker",outcome="rejected"} 1"#,
        r#"staunch_circuit_state{name="prometheus-breaker",state="open"} 1"#,
        r#"staunch_circuit_transitions_total{name="prometheus-breaker",from="closed",to="open"} 1"#,
        r#"staunch_bulkhead_max{name="prometheus-bulkhead"} 1"#,
        r#"staunch_retry_attempts_total{name="prometheus-retry"} 3"#,
        r#"staunch_call_duration_seconds_count{name="prometheus-timed",layer="circuit_breaker",outcome="success"} 1"#,
    ] {
        assert!(
            exposition.lines().any(|l| l == line),
            "{line} in:\n{exposition}"
        );
    }
    if let Some(promtool) = programs::find("promtool", "the exposition passes promtool") {
        let report = programs::promtool_check(&promtool, &exposition);
        assert_eq!(report, "", "promtool check metrics:\n{exposition}");
    }
}

#[tokio::test(start_paused = true)]
async fn calls_allocate_nothing_with_a_recorder_counting() {
    let _ = handle();
    let breaker = CircuitBreaker::builder("prometheus-allocations")
        .fail_max(1)
        .reset(secs(60))
        .build_shared()
        .unwrap();
    let bulkhead = Bulkhead::builder(4)
        .name("prometheus-allocations")
        .build_shared()
        .unwrap();
    let calls = || async {
        breaker.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
        bulkhead
            .call(|| async { Ok::<_, Error>(()) })
            .await
            .unwrap();
    };
    calls().await;
    staunch::metrics::publish();
    assert_eq!(
        allocations_during(async {
            for _ in 0..100 {
                calls().await;
            }
        })
        .await,
        0,
        "successes"
    );
    // Open the breaker; its first refusal registers its series in the recorder.
    let _ = breaker.call(|| async { Err::<(), _>(Error::Down) }).await;
    let _ = breaker.call(|| async { Ok::<_, Error>(()) }).await;
    let refusals = allocations_during(async {
        for _ in 0..100 {
            let refused = breaker.call(|| async { Ok::<_, Error>(()) }).await;
            assert!(refused.is_err());
        }
    })
    .await;
    assert_eq!(refusals, 0, "rejections, each counted by the recorder");
}
