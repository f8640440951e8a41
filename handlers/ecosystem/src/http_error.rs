//! JSON error responses of the simulator's own handlers, in one place: OFB-style `errors[]` for
//! the directory, OAuth 2 errors for token endpoints, `{message}` for the PCM.

use poem::Response;
use poem::http::StatusCode;
use serde_json::json;

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(value.to_string())
}

/// `{"errors":[{"code","title","detail"}]}`.
pub(crate) fn ofb(status: StatusCode, code: &str, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    json(
        status,
        &json!({ "errors": [{ "code": code, "title": title, "detail": detail }] }),
    )
}

pub(crate) fn not_found(detail: &str) -> Response {
    ofb(StatusCode::NOT_FOUND, "NOT_FOUND", detail)
}

pub(crate) fn internal() -> Response {
    ofb(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "the simulator failed to read its state",
    )
}

/// RFC 6749 §5.2.
pub(crate) fn oauth(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = json(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            poem::http::header::WWW_AUTHENTICATE,
            poem::http::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// The PCM's `GenericError`.
pub(crate) fn pcm(status: StatusCode, message: &str) -> Response {
    json(status, &json!({ "message": message }))
}
