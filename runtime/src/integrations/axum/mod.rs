//! axum integration: problems as responses, a JSON extractor whose rejections are problems,
//! a layer that answers a panicking handler with a 500 problem, and the live dashboard.

mod dashboard;

pub use self::dashboard::dashboard;

use std::any::Any;
use std::fmt;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

pub use crate::problem::PROBLEM_JSON;
use crate::problem::ProblemResponse;
use crate::{Classify, GENERIC_DETAIL, Problem, Rejected, reason_phrase};

/// The media type of RFC 9457 problem details.
/// A problem as an HTTP response: its status, `content-type: application/problem+json`,
/// `Retry-After` in whole seconds (rounded up) when the problem has one, and its details as
/// the body. A 5xx is logged at ERROR with its whole source chain; the body never shows it.
pub fn problem_response<P: Problem + 'static>(problem: &P) -> Response {
    ProblemResponse::of(problem).into_http()
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        problem_response(&self)
    }
}

/// One field that failed to deserialize or validate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The path of the field in the body (`items[0].price`), or `.` for the whole body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a deserialized body, reporting every failing field at once.
///
/// ```
/// use staunch::axum::{FieldError, Validate};
///
/// #[derive(serde::Deserialize)]
/// struct Item { name: String, price: f64 }
///
/// impl Validate for Item {
///     fn validate(&self) -> Result<(), Vec<FieldError>> {
///         let mut errors = Vec::new();
///         if self.name.trim().is_empty() {
///             errors.push(FieldError::new("name", "must not be empty"));
///         }
///         if self.price <= 0.0 {
///             errors.push(FieldError::new("price", "must be greater than 0"));
///         }
///         if errors.is_empty() { Ok(()) } else { Err(errors) }
///     }
/// }
/// ```
pub trait Validate {
    /// `Ok` or every failing field.
    ///
    /// # Errors
    /// The fields that failed, each with a message.
    fn validate(&self) -> Result<(), Vec<FieldError>>;
}

/// Why a JSON body was refused: 415 without a JSON content type, 400 for malformed JSON or an
/// unreadable body, 422 listing each field of well-formed JSON that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonRejection {
    /// The request has no `application/json` (or `+json`) content type.
    UnsupportedMediaType,
    /// The body could not be read.
    Body {
        /// The status the body error calls for (400, 413...).
        status: u16,
        /// What went wrong.
        message: String,
    },
    /// The body is not well-formed JSON.
    Syntax(String),
    /// Well-formed JSON that does not fit the expected shape or fails validation.
    Invalid(Vec<FieldError>),
}

impl fmt::Display for JsonRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonRejection::UnsupportedMediaType => {
                f.write_str("Expected a request with `Content-Type: application/json`.")
            }
            JsonRejection::Body { message, .. } => write!(f, "Could not read the body: {message}"),
            JsonRejection::Syntax(message) => write!(f, "The body is not valid JSON: {message}"),
            JsonRejection::Invalid(errors) => {
                f.write_str("Validation error(s): ")?;
                for (i, e) in errors.iter().enumerate() {
                    let separator = if i == 0 { "" } else { "; " };
                    write!(f, "{separator}Field '{}': {}", e.field, e.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for JsonRejection {}

impl Classify for JsonRejection {
    fn is_transient(&self) -> bool {
        false
    }
    fn is_failure(&self) -> bool {
        false
    }
}

impl Problem for JsonRejection {
    fn status(&self) -> u16 {
        match self {
            JsonRejection::UnsupportedMediaType => 415,
            JsonRejection::Body { status, .. } => *status,
            JsonRejection::Syntax(_) => 400,
            JsonRejection::Invalid(_) => 422,
        }
    }

    fn title(&self) -> &str {
        match self {
            JsonRejection::Invalid(_) => "Validation Error",
            _ => reason_phrase(self.status()),
        }
    }

    fn extensions(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut members = serde_json::Map::new();
        if let JsonRejection::Invalid(errors) = self {
            members.insert("errors".to_owned(), json!(errors));
        }
        members
    }
}

impl IntoResponse for JsonRejection {
    fn into_response(self) -> Response {
        problem_response(&self)
    }
}

/// A JSON body whose rejections are problem responses (see [`JsonRejection`]).
///
/// The failing field of a body that does not fit `T` is named by its path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Like [`Json`], then runs `T`'s [`Validate`] and answers 422 listing every failing field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Valid<T>(pub T);

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn read_json<T: DeserializeOwned, S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<T, JsonRejection> {
    if !is_json(&request) {
        return Err(JsonRejection::UnsupportedMediaType);
    }
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| JsonRejection::Body {
            status: rejection.status().as_u16(),
            message: rejection.body_text(),
        })?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            JsonRejection::Invalid(vec![FieldError::new(field, strip_position(&inner))])
        } else {
            JsonRejection::Syntax(inner.to_string())
        }
    })
}

/// serde_json's message without its " at line 1 column 27" suffix, which the path replaces.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = JsonRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_json(request, state).await.map(Json)
    }
}

impl<T: DeserializeOwned + Validate, S: Send + Sync> FromRequest<S> for Valid<T> {
    type Rejection = JsonRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value: T = read_json(request, state).await?;
        value.validate().map_err(JsonRejection::Invalid)?;
        Ok(Valid(value))
    }
}

/// A layer that answers a panicking handler with a 500 problem and logs the panic at ERROR.
///
/// Built on tower-http's `CatchPanicLayer`; the panic message stays in the log.
#[must_use]
pub fn catch_panic() -> CatchPanicLayer<PanicProblem> {
    CatchPanicLayer::custom(PanicProblem)
}

/// Turns a caught panic into a 500 problem response.
#[derive(Debug, Clone, Copy, Default)]
pub struct PanicProblem;

impl ResponseForPanic for PanicProblem {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, panic: Box<dyn Any + Send + 'static>) -> Response {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic without a message");
        tracing::error!(target: "staunch", panic = message, "request handler panicked");
        let body = json!({
            "type": "about:blank",
            "title": reason_phrase(500),
            "status": 500,
            "detail": GENERIC_DETAIL,
        });
        let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// A request no route answers: an unknown path (404), or a method its route does not take
/// (405), answered as a problem instead of axum's empty body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteProblem {
    /// No route has this path.
    #[error("no route answers {method} {path}")]
    NotFound {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The route does not take this method.
    #[error("{path} does not take {method}")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
}

impl Classify for RouteProblem {
    fn is_failure(&self) -> bool {
        false
    }
}

impl Problem for RouteProblem {
    fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::MethodNotAllowed { .. } => 405,
        }
    }

    fn extensions(&self) -> serde_json::Map<String, serde_json::Value> {
        let (Self::NotFound { method, path } | Self::MethodNotAllowed { method, path }) = self;
        let mut members = serde_json::Map::new();
        members.insert("method".to_owned(), method.clone().into());
        members.insert("path".to_owned(), path.clone().into());
        members
    }
}

impl IntoResponse for RouteProblem {
    fn into_response(self) -> Response {
        problem_response(&self)
    }
}

/// `router` with its unknown paths answered by a 404 problem and its unknown methods by a 405
/// problem (`application/problem+json`, with the method and the path; axum keeps the `Allow`
/// header of a 405).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::{Router, routing::get};
/// use tower::ServiceExt as _;
///
/// let app = staunch::axum::problem_fallbacks(Router::new().route("/items", get(|| async { "[]" })));
/// let request = |method, uri| axum::http::Request::builder().method(method).uri(uri).body(axum::body::Body::empty()).unwrap();
/// let missing = app.clone().oneshot(request("GET", "/nothing")).await.unwrap();
/// assert_eq!(missing.status(), 404);
/// assert_eq!(missing.headers()["content-type"], "application/problem+json");
/// let wrong = app.oneshot(request("DELETE", "/items")).await.unwrap();
/// assert_eq!(wrong.status(), 405);
/// # }
/// ```
pub fn problem_fallbacks<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    router
        .fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                RouteProblem::NotFound {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                }
            },
        )
        .method_not_allowed_fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                RouteProblem::MethodNotAllowed {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                }
            },
        )
}
