//! actix-web integration: problems as error responses, identical to the axum ones.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};

use crate::problem::{PROBLEM_JSON, ProblemResponse};
use crate::{Problem, Rejected};

/// A problem as an actix-web response: its status, `content-type: application/problem+json`,
/// `Retry-After` in whole seconds (rounded up) when set, and its details as the body. A 5xx is
/// logged at ERROR with its whole source chain; the body never shows it.
pub fn problem_response<P: Problem + 'static>(problem: &P) -> HttpResponse {
    let parts = ProblemResponse::of(problem);
    let mut response = HttpResponse::build(status_code(problem));
    response.insert_header((CONTENT_TYPE, PROBLEM_JSON));
    if let Some(seconds) = parts.retry_after {
        response.insert_header((RETRY_AFTER, seconds));
    }
    response.body(parts.body)
}

/// The problem's status as actix-web's type (500 for a code it cannot represent).
pub fn status_code<P: Problem + ?Sized>(problem: &P) -> StatusCode {
    StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl ResponseError for Rejected {
    fn status_code(&self) -> StatusCode {
        status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        problem_response(self)
    }
}
