//! RFC 9457 problem details: what an error tells the client.

mod http_response;
mod response;

use std::error::Error;
use std::fmt;

use serde_json::{Map, Value};

#[cfg(feature = "reqwest")]
pub(crate) use self::http_response::retry_after_header;
pub use self::http_response::{MAX_RETRY_AFTER, parse_retry_after};
pub use self::response::{PROBLEM_JSON, ProblemResponse};

use crate::{Classify, Rejected};

/// The detail a client sees for a 5xx error that does not opt in with `#[problem(expose)]`.
pub const GENERIC_DETAIL: &str =
    "An unexpected error occurred on the server. Please try again later.";

/// An error that can answer an HTTP request as an RFC 9457 `application/problem+json` body.
///
/// Derive it with `#[derive(staunch::Problem)]`; the derive also implements [`Classify`] from
/// the status, so retry and circuit breakers treat 5xx, 408 and 429 as the dependency's
/// trouble and other 4xx as the caller's.
pub trait Problem: Classify + Error {
    /// The HTTP status code (RFC 9457 §3.1.2), in 100..=599.
    fn status(&self) -> u16;

    /// The problem type URI (§3.1.1); `about:blank` when the type is only the status.
    fn type_uri(&self) -> &str {
        "about:blank"
    }

    /// A short summary of the problem type (§3.1.3); the status's reason phrase by default.
    fn title(&self) -> &str {
        reason_phrase(self.status())
    }

    /// This occurrence explained to the client (§3.1.4): the error's `Display` for a 4xx, a
    /// generic sentence for a 5xx, whose `Display` may carry internals (§5).
    fn detail(&self) -> Option<String> {
        Some(if self.status() >= 500 {
            GENERIC_DETAIL.to_owned()
        } else {
            self.to_string()
        })
    }

    /// Extension members (§3.2), flattened into the top level of the body.
    fn extensions(&self) -> Map<String, Value> {
        Map::new()
    }

    /// The body of the response, with `instance` (§3.1.5) when the caller knows it.
    fn to_details(&self, instance: Option<&str>) -> ProblemDetails {
        ProblemDetails {
            type_uri: self.type_uri().to_owned(),
            title: self.title().to_owned(),
            status: self.status(),
            detail: self.detail(),
            instance: instance.map(str::to_owned),
            extensions: self.extensions(),
        }
    }
}

/// An RFC 9457 problem details object, as serialized to `application/problem+json`.
///
/// ```
/// use staunch::ProblemDetails;
///
/// let body = ProblemDetails {
///     type_uri: "https://example.com/probs/out-of-credit".into(),
///     title: "You do not have enough credit.".into(),
///     status: 403,
///     detail: Some("Your current balance is 30, but that costs 50.".into()),
///     instance: Some("/account/12345/msgs/abc".into()),
///     extensions: [("balance".to_owned(), 30.into())].into_iter().collect(),
/// };
/// let json = serde_json::to_value(&body).unwrap();
/// assert_eq!(json["type"], "https://example.com/probs/out-of-credit");
/// assert_eq!(json["balance"], 30);
/// ```
///
/// An extension member named like a standard member (`type`, `title`, `status`, `detail`,
/// `instance`) is left out of the body: it would otherwise stand beside the standard one and a
/// client reading the last duplicate would see the extension.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ProblemDetails {
    /// `type`: a URI reference identifying the problem type.
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    /// `title`: a short summary of the problem type.
    pub title: String,
    /// `status`: the HTTP status code.
    pub status: u16,
    /// `detail`: this occurrence explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `instance`: a URI reference identifying this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Extension members, at the top level of the object.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// The members RFC 9457 §3.1 defines.
const STANDARD_MEMBERS: [&str; 5] = ["type", "title", "status", "detail", "instance"];

impl serde::Serialize for ProblemDetails {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;

        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &self.type_uri)?;
        map.serialize_entry("title", &self.title)?;
        map.serialize_entry("status", &self.status)?;
        if let Some(detail) = &self.detail {
            map.serialize_entry("detail", detail)?;
        }
        if let Some(instance) = &self.instance {
            map.serialize_entry("instance", instance)?;
        }
        for (name, value) in &self.extensions {
            if !STANDARD_MEMBERS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

/// The reason phrase of a status code ("Not Found"), or "Unknown Status".
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown Status")
}

/// Transient: 408, 429 and the 5xx a retry can outlast (500, 502, 503, 504).
#[must_use]
pub fn status_is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A breaker failure: every 5xx, 408 and 429; other 4xx are the caller's fault.
#[must_use]
pub fn status_is_failure(status: u16) -> bool {
    status >= 500 || matches!(status, 408 | 429)
}

/// `CircuitOpen`, `BulkheadFull` and `BudgetExhausted` are 503 (with Retry-After for an open
/// breaker); `Timeout` is 504; `RateLimited` is 429, with Retry-After. The detail names no
/// breaker, bulkhead or limiter: those are internals.
impl Problem for Rejected {
    fn status(&self) -> u16 {
        match self {
            Rejected::Timeout { .. } => 504,
            Rejected::RateLimited { .. } => 429,
            _ => 503,
        }
    }

    fn detail(&self) -> Option<String> {
        Some(
            match self {
                Rejected::CircuitOpen { .. } | Rejected::BulkheadFull { .. } => {
                    "The service is temporarily unable to handle the request. Please try again later."
                }
                Rejected::Timeout { .. } => "A dependency did not answer in time.",
                Rejected::BudgetExhausted { .. } => {
                    "The service is overloaded. Please try again later."
                }
                Rejected::RateLimited { .. } => "Too many requests. Please try again later.",
            }
            .to_owned(),
        )
    }
}

/// Formats an error with its whole `source()` chain: `outer: cause: root cause`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rejections_are_503_or_504_and_leak_no_names() {
        let open = Rejected::CircuitOpen {
            name: "payments-db",
            retry_in: Duration::from_millis(1500),
        };
        let details = open.to_details(Some("/orders/1"));
        assert_eq!(
            (details.status, details.type_uri.as_str()),
            (503, "about:blank")
        );
        assert_eq!(details.title, "Service Unavailable");
        assert!(
            !serde_json::to_string(&details)
                .unwrap()
                .contains("payments-db")
        );
        assert_eq!(open.retry_after(), Some(Duration::from_millis(1500)));
        let timeout = Rejected::Timeout {
            after: Duration::from_secs(2),
        };
        assert_eq!(
            (timeout.status(), timeout.title()),
            (504, "Gateway Timeout")
        );
    }

    #[test]
    fn each_rejection_tells_the_client_what_happened_and_nothing_more() {
        let detail = |rejected: Rejected| rejected.to_details(None).detail.unwrap();
        let unable =
            "The service is temporarily unable to handle the request. Please try again later.";
        assert_eq!(
            detail(Rejected::CircuitOpen {
                name: "payments-db",
                retry_in: Duration::from_secs(1),
            }),
            unable
        );
        assert_eq!(
            detail(Rejected::BulkheadFull {
                name: "payments-db",
                limit: 4,
            }),
            unable
        );
        assert_eq!(
            detail(Rejected::Timeout {
                after: Duration::from_secs(2),
            }),
            "A dependency did not answer in time."
        );
        assert_eq!(
            detail(Rejected::BudgetExhausted {
                name: "payments-db",
            }),
            "The service is overloaded. Please try again later."
        );
    }

    #[test]
    fn a_chain_shows_every_cause_down_to_the_root() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl fmt::Display for Layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl Error for Layer {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                self.1
                    .as_deref()
                    .map(|cause| cause as &(dyn Error + 'static))
            }
        }
        let error = Layer(
            "checkout failed",
            Some(Box::new(Layer(
                "payments answered 503",
                Some(Box::new(Layer("connection reset", None))),
            ))),
        );
        assert_eq!(
            Chain(&error).to_string(),
            "checkout failed: payments answered 503: connection reset"
        );
        assert_eq!(Chain(&Layer("alone", None)).to_string(), "alone");
    }

    #[test]
    fn reason_phrases_come_from_the_status() {
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(599), "Unknown Status");
    }
}
