//! RFC 9457 bodies with arbitrary extension members: serialization never fails, the body is a
//! JSON object whose standard members are the problem's own (an extension never overrides
//! `status` or `type`), every other extension is there as given, and the body reads back.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};
use staunch_runtime::ProblemDetails;

const STANDARD: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// An arbitrary JSON value, nested at most `depth` deep.
fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let kind = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match kind {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Number(Number::from(u.arbitrary::<i64>()?)),
        3 => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(u.arbitrary()?),
        5 => Value::Array(
            (0..u.int_in_range(0..=4)?)
                .map(|_| value(u, depth - 1))
                .collect::<arbitrary::Result<_>>()?,
        ),
        _ => Value::Object(members(u, depth - 1)?),
    })
}

fn members(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Map<String, Value>> {
    (0..u.int_in_range(0..=6)?)
        .map(|_| {
            // Standard member names often, to try overriding them.
            let name = if u.ratio(1, 4)? {
                (*u.choose(&STANDARD)?).to_owned()
            } else {
                u.arbitrary()?
            };
            Ok((name, value(u, depth)?))
        })
        .collect()
}

#[derive(Debug)]
struct Input(ProblemDetails);

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Input(ProblemDetails {
            type_uri: u.arbitrary()?,
            title: u.arbitrary()?,
            status: u.arbitrary()?,
            detail: u.arbitrary()?,
            instance: u.arbitrary()?,
            extensions: members(u, 8)?,
        }))
    }
}

fuzz_target!(|input: Input| {
    let problem = input.0;
    let body = serde_json::to_string(&problem).expect("a problem always serializes");
    let read: Value = serde_json::from_str(&body).expect("the body is JSON");
    let object = read.as_object().expect("the body is an object");
    assert_eq!(
        object["type"],
        Value::from(problem.type_uri.clone()),
        "{body}"
    );
    assert_eq!(
        object["title"],
        Value::from(problem.title.clone()),
        "{body}"
    );
    assert_eq!(object["status"], Value::from(problem.status), "{body}");
    assert_eq!(
        object.get("detail"),
        problem.detail.clone().map(Value::from).as_ref(),
        "{body}"
    );
    assert_eq!(
        object.get("instance"),
        problem.instance.clone().map(Value::from).as_ref(),
        "{body}"
    );
    for (name, value) in &problem.extensions {
        if !STANDARD.contains(&name.as_str()) {
            assert_eq!(object.get(name), Some(value), "{body}");
        }
    }
    let back: ProblemDetails = serde_json::from_str(&body).expect("the body reads back");
    assert_eq!(
        (back.status, &back.title, &back.type_uri),
        (problem.status, &problem.title, &problem.type_uri)
    );
});
