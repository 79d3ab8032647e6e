//! `Classify` as the layers consult it: through references and boxes, for `io::Error`, for
//! reqwest's errors and for non-success responses, and the `retry_after` field types of
//! `#[derive(Problem)]`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use staunch::reqwest::{HttpStatusError, MAX_RETRY_AFTER, ResponseExt};
use staunch::{Classify, Problem};

#[derive(Debug)]
struct Throttled;

impl Classify for Throttled {
    fn is_transient(&self) -> bool {
        true
    }
    fn is_failure(&self) -> bool {
        false
    }
    fn retry_after(&self) -> Option<Duration> {
        Some(Duration::from_secs(7))
    }
}

#[derive(Debug)]
struct Refused;

impl Classify for Refused {
    fn is_transient(&self) -> bool {
        false
    }
    fn is_failure(&self) -> bool {
        true
    }
}

/// What an error says, as a tuple.
fn verdict<C: Classify + ?Sized>(error: &C) -> (bool, bool, Option<Duration>) {
    (
        error.is_transient(),
        error.is_failure(),
        error.retry_after(),
    )
}

#[test]
fn references_and_boxes_say_what_the_error_says() {
    let throttled = (true, false, Some(Duration::from_secs(7)));
    let refused = (false, true, None);
    assert_eq!(verdict(&&Throttled), throttled);
    assert_eq!(verdict(&&Refused), refused);
    let boxed: Box<dyn Classify> = Box::new(Throttled);
    assert_eq!(verdict(&boxed), throttled);
    let boxed: Box<dyn Classify> = Box::new(Refused);
    assert_eq!(verdict(&boxed), refused);
}

#[test]
fn the_defaults_are_transient_failures_without_retry_after() {
    struct Unclassified;
    impl Classify for Unclassified {}
    assert_eq!(verdict(&Unclassified), (true, true, None));
}

#[test]
fn io_errors_are_classified_by_kind() {
    use std::io::{Error, ErrorKind};
    for kind in [
        ErrorKind::ConnectionReset,
        ErrorKind::TimedOut,
        ErrorKind::UnexpectedEof,
    ] {
        assert_eq!(verdict(&Error::from(kind)), (true, true, None), "{kind:?}");
    }
    for kind in [
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::InvalidInput,
    ] {
        assert_eq!(
            verdict(&Error::from(kind)),
            (false, false, None),
            "{kind:?}"
        );
    }
    assert_eq!(verdict(&Error::other("disk on fire")), (false, true, None));
}

#[test]
fn http_status_errors_follow_their_status_and_answer_502_or_504() {
    let error = |status| HttpStatusError {
        status,
        retry_after: None,
        url: "http://127.0.0.1/".to_owned(),
    };
    assert_eq!(verdict(&error(503)), (true, true, None));
    assert_eq!(verdict(&error(501)), (false, true, None));
    assert_eq!(verdict(&error(404)), (false, false, None));
    assert_eq!(verdict(&error(429)), (true, true, None));
    assert_eq!(
        error(503).status(),
        502,
        "a dependency's failure is a bad gateway"
    );
    assert_eq!(error(404).status(), 502);
    assert_eq!(
        error(504).status(),
        504,
        "a dependency's timeout is a gateway timeout"
    );
    assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(24 * 60 * 60));
}

/// Answers one request on loopback with `response`, then closes.
fn one_shot_server(response: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 4096];
        let _ = stream.read(&mut request);
        stream.write_all(response.as_bytes()).unwrap();
    });
    port
}

#[tokio::test]
async fn reqwest_errors_are_classified_by_what_failed() {
    // Nothing listens on a port just released: the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert_eq!(verdict(&refused), (true, true, None), "{refused:?}");

    let port = one_shot_server(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 3\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
    let response = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let status = response.error_for_status_ref().unwrap_err();
    assert_eq!(verdict(&status), (true, true, None));
    let classified = response.error_for_status_classified().unwrap_err();
    assert_eq!(
        (classified.status, classified.retry_after),
        (503, Some(Duration::from_secs(3)))
    );

    let port =
        one_shot_server("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let response = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let not_found = response.error_for_status().unwrap_err();
    assert_eq!(verdict(&not_found), (false, false, None));

    // A URL that cannot be sent is the caller's mistake.
    let bad_url = reqwest::get("http://[::1").await.unwrap_err();
    assert_eq!(verdict(&bad_url), (false, false, None), "{bad_url:?}");
}

/// A request that outlives the client's timeout is worth another attempt; one the server
/// dropped half-way counts against a breaker but is not retried (it may have had effects).
#[tokio::test(start_paused = true)]
async fn reqwest_timeouts_and_dropped_requests_are_failures() {
    // Bound but never accepted: the kernel completes the handshake, nobody answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let timed_out = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout(), "{timed_out:?}");
    assert_eq!(verdict(&timed_out), (true, true, None), "{timed_out:?}");
    drop(silent);

    // Read, then closed without a word.
    let port = one_shot_server("");
    let dropped = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(
        dropped.is_request() && !dropped.is_connect() && !dropped.is_timeout(),
        "{dropped:?}"
    );
    assert_eq!(verdict(&dropped), (false, true, None), "{dropped:?}");
}

/// A body that stalls past the client's timeout: transient, as a request that does.
#[tokio::test]
async fn a_body_that_stalls_past_the_timeout_is_transient() {
    let stalling = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stalling.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = stalling.accept().unwrap();
        let mut request = [0; 4096];
        let _ = stream.read(&mut request);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab")
            .unwrap();
        // Held open until the client gives up and closes its end.
        let _ = stream.read(&mut request);
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let response = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    // The headers are in; from here the body never completes, and paused time runs on to the
    // timeout at once.
    tokio::time::pause();
    let stalled = response.bytes().await.unwrap_err();
    assert!(stalled.is_timeout() && !stalled.is_request(), "{stalled:?}");
    assert_eq!(verdict(&stalled), (true, true, None), "{stalled:?}");
    // The connection closes once the client is gone; the server's thread then ends.
    drop(client);
    tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
}

#[derive(Debug, thiserror::Error, staunch::Problem)]
enum Busy {
    #[error("seconds")]
    #[problem(status = 503)]
    Seconds(#[problem(retry_after)] u64),
    #[error("seconds")]
    #[problem(status = 503)]
    Short(#[problem(retry_after)] u32),
    #[error("maybe")]
    #[problem(status = 503)]
    Maybe(#[problem(retry_after)] Option<Duration>),
}

#[test]
fn retry_after_fields_of_every_type_are_read() {
    assert_eq!(Busy::Seconds(5).retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(Busy::Short(6).retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(
        Busy::Maybe(Some(Duration::from_millis(1500))).retry_after(),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(Busy::Maybe(None).retry_after(), None);
}
