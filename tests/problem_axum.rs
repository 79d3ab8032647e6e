//! The chapter's exception handlers, each one attribute in Rust, through a real axum Router.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use staunch::Rejected;
use staunch::axum::{FieldError, Json, Valid, Validate};
use tower::ServiceExt;

#[derive(Debug, thiserror::Error, staunch::Problem)]
#[problem(type_base = "https://example.com/probs/")]
enum ShopError {
    #[error("Account {account_id} needs {needed} but only has {balance}.")]
    #[problem(
        status = 403,
        title = "Insufficient Funds",
        type = "insufficient-funds"
    )]
    InsufficientFunds {
        #[problem(extension)]
        account_id: String,
        #[problem(extension)]
        needed: f64,
        #[problem(extension)]
        balance: f64,
    },
    #[error("Product {0} not found.")]
    #[problem(status = 404, title = "Product Not Found", type = "product-not-found")]
    ProductNotFound(String),
    #[error("division by zero while pricing with key sk_live_123 at 192.168.7.7")]
    #[problem(status = 500)]
    Unexpected(#[source] std::io::Error),
    #[error(transparent)]
    #[problem(transparent)]
    Rejected(#[from] Rejected),
}

async fn get_product(
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<Value>, ShopError> {
    match id.as_str() {
        "existent_product_123" => Ok(axum::Json(
            json!({"product_id": id, "name": "Awesome Product"}),
        )),
        "non_existent_product_456" => Err(ShopError::ProductNotFound(id)),
        _ => Err(ShopError::Unexpected(std::io::Error::other(
            "pricing db password=hunter2",
        ))),
    }
}

#[derive(serde::Deserialize)]
struct Order {
    account_id: String,
    amount_needed: f64,
    current_balance: f64,
}

async fn create_order(Json(order): Json<Order>) -> Result<axum::Json<Value>, ShopError> {
    if order.amount_needed > order.current_balance {
        return Err(ShopError::InsufficientFunds {
            account_id: order.account_id,
            needed: order.amount_needed,
            balance: order.current_balance,
        });
    }
    Ok(axum::Json(
        json!({"message": "Order placed successfully", "account_id": order.account_id}),
    ))
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Item {
    name: String,
    price: f64,
}

impl Validate for Item {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        if self.price <= 0.0 {
            errors.push(FieldError::new("price", "must be greater than 0"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

async fn create_item(Valid(item): Valid<Item>) -> axum::Json<Item> {
    axum::Json(item)
}

async fn open_breaker() -> Result<(), ShopError> {
    Err(Rejected::CircuitOpen {
        name: "inventory",
        retry_in: Duration::from_millis(1200),
    }
    .into())
}

/// A handler may return staunch's rejection itself.
async fn rejected() -> Result<(), Rejected> {
    Err(Rejected::CircuitOpen {
        name: "inventory",
        retry_in: Duration::from_secs(3),
    })
}

async fn panics() -> &'static str {
    panic!("token sk_live_123 leaked into a panic")
}

fn shop() -> Router {
    Router::new()
        .route("/products/{id}", get(get_product))
        .route("/orders", post(create_order))
        .route("/items_validation", post(create_item))
        .route("/open", get(open_breaker))
        .route("/rejected", get(rejected))
        .route("/panic", get(panics))
        .layer(staunch::axum::catch_panic())
}

async fn send(request: Request<Body>) -> (StatusCode, Option<String>, Option<String>, Value) {
    let response: Response = shop().oneshot(request).await.unwrap();
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let (content_type, retry_after) = (header(header::CONTENT_TYPE), header(header::RETRY_AFTER));
    let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, content_type, retry_after, body)
}

fn get_request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

const PROBLEM: Option<&str> = Some("application/problem+json");

#[tokio::test]
async fn found_and_not_found_products() {
    let (status, _, _, body) = send(get_request("/products/existent_product_123")).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::OK, Some("Awesome Product"))
    );

    let (status, content_type, _, body) =
        send(get_request("/products/non_existent_product_456")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type.as_deref(), PROBLEM);
    assert_eq!(
        body,
        json!({
            "type": "https://example.com/probs/product-not-found",
            "title": "Product Not Found",
            "status": 404,
            "detail": "Product non_existent_product_456 not found.",
        })
    );
}

#[tokio::test]
async fn an_unexpected_error_is_a_masked_500() {
    let (status, content_type, _, body) = send(get_request("/products/anything_else")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(content_type.as_deref(), PROBLEM);
    assert_eq!(
        body,
        json!({
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": staunch::GENERIC_DETAIL,
        })
    );
    let text = body.to_string();
    for secret in ["hunter2", "sk_live", "192.168", "division", "pricing"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[tokio::test]
async fn insufficient_funds_is_a_403_with_extension_members() {
    let order = r#"{"account_id": "acc-7", "amount_needed": 120.5, "current_balance": 20.0}"#;
    let (status, content_type, _, body) = send(post_json("/orders", order)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(content_type.as_deref(), PROBLEM);
    assert_eq!(
        body,
        json!({
            "type": "https://example.com/probs/insufficient-funds",
            "title": "Insufficient Funds",
            "status": 403,
            "detail": "Account acc-7 needs 120.5 but only has 20.",
            "account_id": "acc-7",
            "needed": 120.5,
            "balance": 20.0,
        })
    );
    let fine = r#"{"account_id": "acc-7", "amount_needed": 1, "current_balance": 20}"#;
    let (status, _, _, body) = send(post_json("/orders", fine)).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::OK, Some("Order placed successfully"))
    );
}

#[tokio::test]
async fn the_extractor_answers_400_415_and_422_problems() {
    let (status, content_type, _, body) = send(post_json("/orders", "{not json")).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::BAD_REQUEST, PROBLEM)
    );
    assert_eq!(body["status"], 400);

    let untyped = Request::post("/orders").body(Body::from("{}")).unwrap();
    let (status, content_type, _, body) = send(untyped).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, PROBLEM)
    );
    assert_eq!(body["title"], "Unsupported Media Type");

    // Another `application/` type is not JSON; a `+json` one is.
    let xml = Request::post("/orders")
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(xml).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let vendor_json = Request::post("/items_validation")
        .header(
            header::CONTENT_TYPE,
            "application/vnd.shop+json; charset=utf-8",
        )
        .body(Body::from(r#"{"name": "pen", "price": 2.5}"#))
        .unwrap();
    assert_eq!(send(vendor_json).await.0, StatusCode::OK);

    let wrong_type = r#"{"account_id": "a", "amount_needed": "lots", "current_balance": 1}"#;
    let (status, _, _, body) = send(post_json("/orders", wrong_type)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // The field's path replaces serde's "at line 1 column N".
    assert_eq!(
        body["errors"],
        json!([{"field": "amount_needed", "message": "invalid type: string \"lots\", expected f64"}])
    );

    let invalid = r#"{"name": " ", "price": -5}"#;
    let (status, content_type, _, body) = send(post_json("/items_validation", invalid)).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, PROBLEM)
    );
    assert_eq!(body["title"], "Validation Error");
    assert_eq!(
        body["errors"],
        json!([
            {"field": "name", "message": "must not be empty"},
            {"field": "price", "message": "must be greater than 0"},
        ])
    );
    assert_eq!(
        body["detail"],
        "Validation error(s): Field 'name': must not be empty; Field 'price': must be greater than 0"
    );
    let (status, _, _, body) = send(post_json(
        "/items_validation",
        r#"{"name": "pen", "price": 2.5}"#,
    ))
    .await;
    assert_eq!(
        (status, body["price"].as_f64()),
        (StatusCode::OK, Some(2.5))
    );
}

#[tokio::test]
async fn an_open_breaker_answers_503_with_retry_after_rounded_up() {
    let (status, content_type, retry_after, body) = send(get_request("/open")).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, PROBLEM)
    );
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert!(!body.to_string().contains("inventory"));
}

#[tokio::test]
async fn a_rejection_is_a_response_with_whole_seconds_left_as_they_are() {
    let (status, content_type, retry_after, body) = send(get_request("/rejected")).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, PROBLEM)
    );
    assert_eq!(retry_after.as_deref(), Some("3"), "3 s is not rounded up");
    assert_eq!(body["status"], 503);
}

/// A body the extractor refused is the client's mistake: retrying it or counting it against a
/// breaker would change nothing.
#[test]
fn an_extractor_rejection_is_neither_transient_nor_a_failure() {
    use staunch::Classify;
    let rejection = staunch::axum::JsonRejection::UnsupportedMediaType;
    assert_eq!(
        (rejection.is_transient(), rejection.is_failure()),
        (false, false)
    );
}

#[tokio::test]
async fn a_panicking_handler_answers_a_500_problem() {
    let (status, content_type, _, body) = send(get_request("/panic")).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::INTERNAL_SERVER_ERROR, PROBLEM)
    );
    assert_eq!(body["detail"], staunch::GENERIC_DETAIL);
    assert!(!body.to_string().contains("sk_live"));
}
