//! `#[hedge]` and `Hedge` on paused time: another attempt after `delay`, up to `max`, the
//! first success winning and the losers dropped at once; failures hedged at once, the last
//! error when all fail, `when`, a breaker inside counting each attempt, settings and events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use staunch::settings::{HedgeSettings, Settings};
use staunch::{Event, Hedge, Rejected};
use tokio::time::Instant;

mod support;
use support::{Error, ms, secs};

/// Counts the attempts dropped before they finished.
struct Dropped(Arc<AtomicU32>, bool);

impl Drop for Dropped {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// An attempt that answers `answer` after `after`, noting when it was dropped unfinished.
async fn attempt<T>(after: Duration, answer: T, dropped: &Arc<AtomicU32>) -> T {
    let mut guard = Dropped(Arc::clone(dropped), false);
    tokio::time::sleep(after).await;
    guard.1 = true;
    answer
}

fn hedge(name: &str, delay: Duration, max: u32) -> Hedge {
    Hedge::builder()
        .name(name.to_owned())
        .delay(delay)
        .max(max)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_call_answering_in_time_starts_no_other() {
    let hedge = hedge("hedge-in-time", ms(50), 3);
    let started = Instant::now();
    let mut made = 0;
    let answer = hedge
        .call(|| {
            made += 1;
            async {
                tokio::time::sleep(ms(49)).await;
                Ok::<_, Error>(7)
            }
        })
        .await;
    assert_eq!((answer, made), (Ok(7), 1));
    assert_eq!(started.elapsed(), ms(49));
    let ready = hedge.call(|| async { Ok::<_, Error>(8) }).await;
    assert_eq!(ready, Ok(8));
    assert_eq!(hedge.metrics().hedged, 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_gets_a_second_beside_it_and_the_first_answer_wins() {
    let hedge = hedge("hedge-slow", ms(50), 2);
    let dropped = Arc::new(AtomicU32::new(0));
    let made = AtomicU32::new(0);
    let started = Instant::now();
    let answer = hedge
        .call(|| {
            let n = made.fetch_add(1, Ordering::SeqCst);
            let dropped = Arc::clone(&dropped);
            async move {
                let after = if n == 0 { secs(10) } else { ms(10) };
                Ok::<_, Error>(attempt(after, n, &dropped).await)
            }
        })
        .await;
    assert_eq!(answer, Ok(1), "the hedged attempt answered first");
    assert_eq!(started.elapsed(), ms(60));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the loser dropped when the winner answered"
    );
    assert_eq!(
        hedge.metrics(),
        staunch::hedge::HedgeMetrics {
            hedged: 1,
            won_by_hedge: 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_start_each_delay_up_to_max_and_no_more() {
    let hedge = hedge("hedge-max", ms(100), 3);
    let starts = std::sync::Mutex::new(Vec::new());
    let begun = Instant::now();
    let answer = hedge
        .call(|| {
            starts.lock().unwrap().push(begun.elapsed());
            async {
                tokio::time::sleep(secs(1)).await;
                Ok::<_, Error>(())
            }
        })
        .await;
    assert_eq!(answer, Ok(()));
    assert_eq!(*starts.lock().unwrap(), [ms(0), ms(100), ms(200)]);
    assert_eq!(
        begun.elapsed(),
        secs(1),
        "the first attempt, started first, answered first"
    );
    assert_eq!(hedge.metrics().won_by_hedge, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failure_starts_the_next_attempt_at_once_and_the_last_error_is_returned() {
    let hedge = hedge("hedge-failing", secs(5), 3);
    let made = AtomicU32::new(0);
    let started = Instant::now();
    let answer = hedge
        .call(|| {
            let n = made.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(ms(10)).await;
                Err::<(), _>(format!("attempt {n} failed"))
            }
        })
        .await;
    assert_eq!(answer, Err("attempt 2 failed".to_owned()));
    assert_eq!(started.elapsed(), ms(30), "no attempt waited for the delay");
    assert_eq!(made.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn an_error_when_refuses_is_returned_at_once_and_the_others_dropped() {
    let hedge = hedge("hedge-when", ms(20), 3);
    let dropped = Arc::new(AtomicU32::new(0));
    let made = AtomicU32::new(0);
    let started = Instant::now();
    let answer = hedge
        .call_when(
            |e: &&str| *e == "busy",
            || {
                let n = made.fetch_add(1, Ordering::SeqCst);
                let dropped = Arc::clone(&dropped);
                async move {
                    match n {
                        0 => attempt(secs(10), Ok(0), &dropped).await,
                        _ => attempt(ms(5), Err("not found"), &dropped).await,
                    }
                }
            },
        )
        .await;
    assert_eq!(answer, Err("not found"));
    assert_eq!(started.elapsed(), ms(25));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the first attempt dropped with the answer"
    );
    assert_eq!(made.load(Ordering::SeqCst), 2);
}

// The attribute.

static SEARCHES: AtomicU32 = AtomicU32::new(0);

#[staunch::hedge(delay = "50ms", max = 2, name = "hedge-attr-search")]
async fn search(query: String) -> Result<String, Error> {
    let n = SEARCHES.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(if n % 2 == 0 { secs(2) } else { ms(10) }).await;
    Ok(format!("{query} #{n}"))
}

#[tokio::test(start_paused = true)]
async fn the_attribute_hedges_with_fresh_arguments() {
    let started = Instant::now();
    let hits = search("rust".to_owned()).await.unwrap();
    assert_eq!(hits, "rust #1");
    assert_eq!(started.elapsed(), ms(60));
    let hedge = staunch::hedge("hedge-attr-search").expect("registered by name");
    assert_eq!(hedge.metrics().hedged, 1);
}

struct Catalog {
    slow_first: AtomicU32,
}

impl Catalog {
    #[staunch::hedge(delay = "20ms", max = 3)]
    async fn item(&self, id: &str) -> Result<String, Error> {
        let n = self.slow_first.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(if n == 0 { secs(1) } else { ms(5) }).await;
        Ok(format!("{id} from attempt {n}"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_method_taking_references_hedges_too() {
    let catalog = Catalog {
        slow_first: AtomicU32::new(0),
    };
    assert_eq!(catalog.item("a").await.unwrap(), "a from attempt 1");
}

#[staunch::hedge(delay = "10ms", max = 3)]
#[staunch::circuit_breaker(name = "hedge-inner-breaker", fail_max = 10)]
async fn behind_a_breaker() -> Result<u32, Error> {
    tokio::time::sleep(ms(1)).await;
    Err(Error::Down)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_inside_counts_each_hedged_attempt_as_a_call() {
    assert_eq!(behind_a_breaker().await, Err(Error::Down));
    let breaker = staunch::breaker("hedge-inner-breaker").unwrap();
    assert_eq!(
        breaker.metrics().failures,
        3,
        "one call of the breaker per attempt"
    );
}

#[staunch::hedge(delay = "10ms", max = 3)]
#[staunch::circuit_breaker(name = "hedge-open-breaker", fail_max = 1)]
async fn into_an_open_breaker() -> Result<(), Error> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_inside_is_not_hedged_into() {
    staunch::CircuitBreaker::builder("hedge-open-breaker")
        .fail_max(1)
        .build_shared()
        .unwrap()
        .force_open();
    let refused = into_an_open_breaker().await;
    assert!(matches!(
        refused,
        Err(Error::Rejected(Rejected::CircuitOpen { .. }))
    ));
    let hedge = staunch::hedge(concat!(module_path!(), "::into_an_open_breaker")).unwrap();
    assert_eq!(hedge.metrics().hedged, 0, "no attempt after the refusal");
}

#[tokio::test(start_paused = true)]
async fn settings_change_a_running_hedge_and_each_attempt_is_an_event() {
    let hedge = Hedge::builder()
        .name("hedge-tuned")
        .delay(secs(1))
        .build_shared()
        .unwrap();
    let mut settings = Settings::new();
    settings.insert(
        "hedge-tuned",
        HedgeSettings {
            delay: Some(ms(10)),
            max: Some(3),
        },
    );
    staunch::registry().change(settings).unwrap();
    assert_eq!((hedge.config().delay(), hedge.config().max()), (ms(10), 3));
    let mut events = hedge.subscribe();
    let answer = hedge
        .call(|| async {
            tokio::time::sleep(ms(25)).await;
            Ok::<_, Error>(())
        })
        .await;
    assert_eq!(answer, Ok(()));
    let mut hedged = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Hedged { attempt, after, .. } = event {
            hedged.push((attempt, after));
        }
    }
    assert_eq!(hedged, [(2, ms(10)), (3, ms(10))]);
    let snapshot = staunch::registry().snapshot();
    let entry = snapshot
        .instances
        .iter()
        .find(|i| i.name == "hedge-tuned")
        .unwrap();
    let json = serde_json::to_value(entry).unwrap();
    assert_eq!(json["kind"], "hedge");
    assert_eq!(json["hedged"], 2);
    assert_eq!(
        json["settings"],
        serde_json::json!({"delay": "10ms", "max": 3})
    );
    let bad: staunch::settings::Table = serde_json::from_str(r#"{"max": 1}"#).unwrap();
    let error = staunch::registry()
        .change_instance("hedge-tuned", &bad)
        .unwrap_err();
    assert!(error.to_string().contains("must be at least 2"), "{error}");
    assert_eq!(hedge.config().max(), 3, "nothing changed");
}
