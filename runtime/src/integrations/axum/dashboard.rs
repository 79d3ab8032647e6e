//! The live dashboard: one self-contained page, fed by server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::sse::{Event as Message, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use futures_util::Stream;
use futures_util::future::{Either, select};
use serde::Serialize;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Interval, MissedTickBehavior};

use crate::observe::recent::{self, Recent};
use crate::{Event, Snapshot};

/// The page: markup, styles and script in one file, with nothing fetched from elsewhere.
const PAGE: &str = include_str!("dashboard.html");

/// How often the stream sends a snapshot of every instance.
const SNAPSHOT_PERIOD: Duration = Duration::from_secs(1);

/// A router serving the dashboard of every named instance of the process-wide registry: the
/// page at `/`, a snapshot as JSON at `/snapshot`, and the live stream the page reads at
/// `/events` (server-sent events: a `snapshot` each second, and each transition, change of
/// settings and conflict over settings as it happens; rejections and retries, once per call,
/// are counted in the snapshots and never build an event for it).
///
/// Mount it where operators can reach it, and only there: it shows names and settings.
///
/// ```
/// use axum::Router;
///
/// let app: Router = Router::new().nest("/dashboard", staunch::axum::dashboard());
/// ```
///
/// The page works offline (no external script, style or font), groups instances by kind with a
/// search over their names, and keeps a bounded history (five minutes of samples, the last
/// 50 transitions, kept by the process from its start so a page opened late shows them),
/// however long it stays open.
pub fn dashboard<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/snapshot", get(snapshot))
        .route("/events", get(events))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

/// Every instance, with the time it was taken and the last transitions (so a page opened now
/// shows them).
#[derive(Serialize)]
struct Taken {
    /// Milliseconds since the Unix epoch.
    now_ms: u64,
    #[serde(flatten)]
    snapshot: Snapshot,
    /// The newest first.
    transitions: Vec<Recent>,
}

fn take() -> Taken {
    Taken {
        now_ms: recent::now_ms(),
        snapshot: crate::registry().snapshot(),
        transitions: recent::recent(),
    }
}

async fn snapshot() -> impl IntoResponse {
    axum::Json(take())
}

async fn events() -> Sse<impl Stream<Item = Result<Message, Infallible>>> {
    let mut ticks = tokio::time::interval(SNAPSHOT_PERIOD);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Sse::new(futures_util::stream::unfold(
        (crate::observe::rare().subscribe(), ticks),
        |(mut events, mut ticks)| async move {
            let message = next_message(&mut events, &mut ticks).await?;
            Some((Ok(message), (events, ticks)))
        },
    ))
}

/// The next message of the stream: a snapshot when one is due, else the next rare event;
/// `None` when the stream ends.
async fn next_message(events: &mut Receiver<Event>, ticks: &mut Interval) -> Option<Message> {
    loop {
        let tick = std::pin::pin!(ticks.tick());
        let event = std::pin::pin!(events.recv());
        match select(tick, event).await {
            Either::Left(_) => return Some(json_message("snapshot", &take())),
            Either::Right((Ok(event), _)) => return Some(json_message("event", &event)),
            // Missed events are in the next snapshot's states.
            Either::Right((Err(RecvError::Lagged(_)), _)) => {}
            Either::Right((Err(RecvError::Closed), _)) => return None,
        }
    }
}

fn json_message(name: &str, data: &impl Serialize) -> Message {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Message::default().event(name).data(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn a_snapshot_comes_first_then_transitions_skipping_rejections() {
        block_on(async {
            let breaker = crate::CircuitBreaker::builder("dashboard-stream")
                .build_shared()
                .unwrap();
            let mut events = crate::observe::rare().subscribe();
            let mut ticks = tokio::time::interval(Duration::from_secs(3600));
            let first = next_message(&mut events, &mut ticks).await.unwrap();
            assert!(format!("{first:?}").contains("snapshot"), "{first:?}");
            breaker.force_open();
            let _ = breaker
                .call(|| async { Ok::<_, crate::Rejected>(()) })
                .await;
            breaker.force_closed();
            let next = format!("{:?}", next_message(&mut events, &mut ticks).await.unwrap());
            assert!(
                next.contains("forced_open") && next.contains("transition"),
                "{next}"
            );
            let next = format!("{:?}", next_message(&mut events, &mut ticks).await.unwrap());
            assert!(
                next.contains(r#"\"to\":\"closed\""#) || next.contains(r#""to":"closed""#),
                "{next}"
            );
        });
    }
}
