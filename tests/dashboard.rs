//! The dashboard in a real browser: headless Chromium loads the page from a server on
//! loopback, runs its script, and shows every instance with its state; a breaker that opens
//! shows open within two seconds, without a reload. (Skipped, with a line saying so, where
//! `chromium` is not installed; CI installs it.)

use std::time::{Duration, Instant};

use serde_json::Value;
use staunch::{Bulkhead, Cache, CircuitBreaker, CircuitState, RateLimiter, Retry, RetryBudget};

mod support;
use support::browser::Browser;
use support::{Error, programs};

/// How long the page may take to show a change.
const WITHIN: Duration = Duration::from_secs(2);

/// The cards the page shows: `[kind, name, state]`.
const CARDS: &str = "JSON.stringify([...document.querySelectorAll('.card')]\
    .map(c => [c.dataset.kind, c.dataset.name, c.dataset.state || null]))";

fn cards(page: &mut support::browser::Page) -> Vec<(String, String, Option<String>)> {
    let cards = page.eval(CARDS);
    serde_json::from_str::<Vec<(String, String, Option<String>)>>(cards.as_str().unwrap_or("[]"))
        .expect("cards as JSON")
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn the_page_shows_every_instance_and_a_breaker_opening_live() {
    let Some(chromium) = programs::find("chromium", "the dashboard in a browser") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let payments = CircuitBreaker::builder("dash-payments")
        .fail_max(2)
        .reset(Duration::from_secs(600))
        .build_shared()
        .unwrap();
    let search = CircuitBreaker::builder("dash-search")
        .window(20)
        .failure_rate(50)
        .build_shared()
        .unwrap();
    let pool = Bulkhead::builder(4)
        .name("dash-pool")
        .build_shared()
        .unwrap();
    let budget = RetryBudget::builder("dash-budget").build_shared().unwrap();
    let limiter = RateLimiter::builder(2, Duration::from_secs(60))
        .name("dash-limiter")
        .build_shared()
        .unwrap();
    let cache = Cache::builder(Duration::from_secs(30))
        .name("dash-cache")
        .build_shared()
        .unwrap();
    let retry = Retry::exponential()
        .name("dash-retry")
        .base(Duration::from_millis(1))
        .build_shared()
        .unwrap();
    // Hundreds of instances: the page draws a bounded number of cards per group.
    for n in 0..150 {
        CircuitBreaker::builder(format!("dash-many-{n:03}"))
            .build_shared()
            .unwrap();
    }
    let address = runtime.block_on(async {
        for _ in 0..5 {
            payments
                .call(|| async { Ok::<_, Error>(()) })
                .await
                .unwrap();
            search.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
            pool.call(|| async { Ok::<_, Error>(()) }).await.unwrap();
            let _ = limiter.call(|| async { Ok::<_, Error>(()) }).await;
            cache.call(7, || async { Ok::<_, Error>(7) }).await.unwrap();
        }
        let _ = retry.call(|| async { Err::<(), _>(Error::Down) }).await;
        assert!(budget.metrics().balance >= 0.0);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app: axum::Router = axum::Router::new().nest("/dashboard", staunch::axum::dashboard());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    });

    let browser = Browser::start(&chromium);
    let mut page = browser.page();
    page.navigate(&format!("http://{address}/dashboard"));
    let shown = eventually(Duration::from_secs(20), || !cards(&mut page).is_empty());
    assert!(shown.is_some(), "the page shows the instances");
    let seen = cards(&mut page);
    let kinds = |kind: &str| seen.iter().filter(|(k, ..)| k == kind).count();
    assert_eq!(
        kinds("circuit_breaker"),
        120,
        "a bounded number of cards among 152 breakers"
    );
    let more =
        page.eval("document.querySelector('section[data-kind=circuit_breaker] .more').textContent");
    assert_eq!(
        more,
        Value::from("and 32 more: narrow the filter to see them")
    );
    let others: Vec<_> = seen
        .iter()
        .filter(|(kind, ..)| kind != "circuit_breaker")
        .cloned()
        .collect();
    assert_eq!(
        others,
        [
            ("bulkhead".into(), "dash-pool".into(), None),
            ("retry".into(), "dash-retry".into(), None),
            ("retry_budget".into(), "dash-budget".into(), None),
            ("rate_limit".into(), "dash-limiter".into(), None),
            ("cache".into(), "dash-cache".into(), None),
        ]
    );
    let cached = page.eval("document.querySelector('.card[data-name=dash-cache]').innerText");
    assert!(
        cached
            .as_str()
            .is_some_and(|t| t.contains("1 cached · ttl 30s") && t.contains("missed in all 1")),
        "the cache's card shows its answers and misses: {cached}"
    );
    let limited = page.eval("document.querySelector('.card[data-name=dash-limiter]').innerText");
    assert!(
        limited
            .as_str()
            .is_some_and(|t| t.contains("2/m") && t.contains("refused in all 3")),
        "the limiter's card shows its rate and refusals: {limited}"
    );
    assert!(seen.iter().all(|(kind, _, state)| kind != "circuit_breaker"
        || state.as_deref() == Some("closed")));
    // The search finds any of them.
    let mut search = |text: &str| {
        page.eval(&format!(
            "(() => {{ const s = document.getElementById('search'); s.value = '{text}'; \
             s.dispatchEvent(new Event('input')); }})()"
        ));
        cards(&mut page)
    };
    assert_eq!(
        search("dash-s"),
        [(
            "circuit_breaker".into(),
            "dash-search".into(),
            Some("closed".into())
        )]
    );
    assert_eq!(
        search("PAYMENTS"),
        [(
            "circuit_breaker".into(),
            "dash-payments".into(),
            Some("closed".into())
        )]
    );

    // The breaker opens: the page says so without a reload.
    runtime.block_on(async {
        for _ in 0..2 {
            let _ = payments.call(|| async { Err::<(), _>(Error::Down) }).await;
        }
    });
    assert_eq!(payments.state(), CircuitState::Open);
    let took = eventually(WITHIN + Duration::from_secs(3), || {
        cards(&mut page)
            .iter()
            .any(|(_, name, state)| name == "dash-payments" && state.as_deref() == Some("open"))
    });
    let took = took.expect("the page shows the breaker open");
    assert!(took <= WITHIN, "shown open after {took:?}");
    let timeline = page.eval("document.getElementById('timeline').innerText");
    assert!(
        timeline
            .as_str()
            .is_some_and(|t| t.contains("dash-payments")),
        "the transition is in the timeline: {timeline}"
    );
    let summary = page.eval("document.getElementById('summary').innerText");
    assert!(
        summary.as_str().is_some_and(|s| s.contains("1 open")),
        "{summary}"
    );
    let status = page.eval("document.getElementById('status').textContent");
    assert_eq!(status, Value::from("live"));

    // Unfiltered, the open breaker comes first; a screenshot for people to look at.
    page.eval(
        "(() => { const s = document.getElementById('search'); s.value = ''; \
         s.dispatchEvent(new Event('input')); })()",
    );
    assert_eq!(
        cards(&mut page).first().map(|(_, name, _)| name.clone()),
        Some("dash-payments".into())
    );
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("dashboard.png"), page.screenshot()).unwrap();
    // A page opened after the transition shows it: the server keeps the last ones.
    let mut late = browser.page();
    late.navigate(&format!("http://{address}/dashboard"));
    let filled = eventually(Duration::from_secs(20), || {
        late.eval("document.getElementById('timeline')?.innerText ?? ''")
            .as_str()
            .is_some_and(|t| t.contains("dash-payments"))
    });
    assert!(
        filled.is_some(),
        "the late page's timeline has the transition"
    );
}
