//! Inputs the fuzz targets (fuzz/) found crashing, kept as tests of the normal suite.

use serde_json::{Value, json};
use staunch::ProblemDetails;

/// fuzz/problem_details: an extension member named `type` (or any standard member) was written
/// beside the standard one, so the body carried `"type"` twice and a client reading the last
/// one saw the extension's value instead of the problem type.
#[test]
fn an_extension_named_like_a_standard_member_never_overrides_it() {
    let problem = ProblemDetails {
        type_uri: String::new(),
        title: String::new(),
        status: 11662,
        detail: None,
        instance: None,
        extensions: [("type".to_owned(), Value::Null)].into_iter().collect(),
    };
    let body = serde_json::to_string(&problem).unwrap();
    assert_eq!(body, r#"{"type":"","title":"","status":11662}"#);

    let problem = ProblemDetails {
        type_uri: "https://example.com/probs/out-of-credit".to_owned(),
        title: "Out of credit".to_owned(),
        status: 403,
        detail: Some("Your balance is 30.".to_owned()),
        instance: None,
        extensions: [
            ("status", json!(200)),
            ("title", json!("All good")),
            ("detail", json!(null)),
            ("instance", json!("/elsewhere")),
            ("balance", json!(30)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    let body: Value = serde_json::from_str(&serde_json::to_string(&problem).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({
            "type": "https://example.com/probs/out-of-credit",
            "title": "Out of credit",
            "status": 403,
            "detail": "Your balance is 30.",
            "balance": 30,
        })
    );
}
