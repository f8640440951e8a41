//! A thin layer around the generated DCR routes for what the generated `DcrApi` cannot carry
//! (see the report on generated code): RFC 7591 errors for bodies the generated payload would
//! refuse with an OFB error body (no `software_statement`, `jwks` by value, a non-JSON body),
//! the requested `scope` (absent from the generated request model), the registered metadata
//! in the 201/200 bodies (absent from the generated response models), and `invalid_scope`
//! (absent from the generated error enum). The implementation and this layer talk through a
//! task-local, set for the duration of one request.
//!
//! Before any body is read, the layer also answers a method the path lacks (405 with `Allow`),
//! a write without a client certificate (401) and a body over
//! [`REGISTRATION_LIMIT`](crate::form::REGISTRATION_LIMIT) (413); and every refusal of a
//! write is RFC 7591 JSON, whatever the generated layer answered.

use std::cell::RefCell;

use aberta_runtime::context::ClientCert;
use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Value, json};

use crate::form::{BodyRefusal, REGISTRATION_LIMIT};

/// The methods of `/register` (RFC 7591 POST, and the DCR document's RFC 7592 Appendix B
/// form with `client_id` as a query parameter).
const REGISTER_METHODS: &str = "GET, HEAD, PUT, POST, DELETE";
/// The methods of `/register/{clientId}` (RFC 7592).
const CLIENT_METHODS: &str = "GET, HEAD, PUT, DELETE";

/// The methods of a registration path; `None` for any other path.
fn registration_methods(path: &str) -> Option<&'static str> {
    match path.strip_prefix("/register")? {
        "" => Some(REGISTER_METHODS),
        rest => rest
            .strip_prefix('/')
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .map(|_| CLIENT_METHODS),
    }
}

/// What the layer and the `DcrApi` implementation exchange for one request.
#[derive(Debug, Default)]
pub struct DcrExtras {
    /// `scope` of the registration request.
    pub requested_scope: Option<String>,
    /// Metadata to merge into a successful response body.
    pub metadata: Option<Value>,
    /// An RFC error code the generated error enum lacks, replacing the body's `error`.
    pub error_override: Option<&'static str>,
}

tokio::task_local! {
    static EXTRAS: RefCell<DcrExtras>;
}

pub fn requested_scope() -> Option<String> {
    EXTRAS
        .try_with(|e| e.borrow().requested_scope.clone())
        .ok()
        .flatten()
}

pub fn set_metadata(metadata: Value) {
    let _ = EXTRAS.try_with(|e| e.borrow_mut().metadata = Some(metadata));
}

pub fn override_error(code: &'static str) {
    let _ = EXTRAS.try_with(|e| e.borrow_mut().error_override = Some(code));
}

fn rfc_error(error: &str, description: &str) -> Response {
    rfc_error_status(StatusCode::BAD_REQUEST, error, description)
}

fn rfc_error_status(status: StatusCode, error: &str, description: &str) -> Response {
    tracing::info!(error, description, "registration refused");
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(json!({ "error": error, "error_description": description }).to_string())
}

/// The challenge of a registration 401: its body is the RFC 6750 error the DCR document gives.
const INVALID_TOKEN_CHALLENGE: &str = "Bearer error=\"invalid_token\"";

/// Checks a registration body before the generated payload parses it; returns the body to
/// pass on (with `implicit` dropped from `grant_types`) and the requested scope.
fn precheck(body: &[u8]) -> Result<(Vec<u8>, Option<String>), Response> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return Err(rfc_error(
            "invalid_client_metadata",
            "the body must be a JSON object",
        ));
    };
    if map.contains_key("jwks") {
        return Err(rfc_error(
            "invalid_client_metadata",
            "jwks by value is not accepted; use jwks_uri",
        ));
    }
    if map
        .get("software_statement")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(rfc_error(
            "invalid_software_statement",
            "software_statement is required",
        ));
    }
    if map
        .get("redirect_uris")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(rfc_error(
            "invalid_redirect_uri",
            "redirect_uris is required",
        ));
    }
    if let Some(method) = map.get("token_endpoint_auth_method")
        && method.as_str() != Some("private_key_jwt")
    {
        return Err(rfc_error(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be private_key_jwt",
        ));
    }
    if let Some(Value::Array(grants)) = map.get_mut("grant_types") {
        grants.retain(|g| g.as_str() != Some("implicit"));
    }
    let scope = map
        .remove("scope")
        .and_then(|s| s.as_str().map(str::to_owned));
    let body = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
    Ok((body, scope))
}

/// The layer, for `EndpointExt::around`.
pub async fn around<E: Endpoint>(
    next: std::sync::Arc<E>,
    mut req: Request,
) -> poem::Result<Response> {
    let mut extras = DcrExtras::default();
    let Some(allowed) = registration_methods(req.uri().path()) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    if !allowed.split(", ").any(|m| m == req.method().as_str()) {
        // The DCR document declares its 405 without content, so only `Allow` says why.
        return Ok(Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", allowed)
            .finish());
    }
    let writes = matches!(*req.method(), Method::POST | Method::PUT);
    if writes {
        // Refused before the body is read: nobody without a certificate registers.
        if req.extensions().get::<ClientCert>().is_none() {
            let mut resp = rfc_error_status(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a mutual-TLS client certificate is required",
            );
            resp.headers_mut().insert(
                "www-authenticate",
                poem::http::HeaderValue::from_static(INVALID_TOKEN_CHALLENGE),
            );
            return Ok(resp);
        }
        let body = req.take_body();
        let body = match crate::form::read_limited(req.headers(), body, REGISTRATION_LIMIT).await {
            Ok(body) => body,
            Err(BodyRefusal::TooLarge) => {
                return Ok(rfc_error_status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_client_metadata",
                    &format!("the body exceeds {REGISTRATION_LIMIT} bytes"),
                ));
            }
            Err(BodyRefusal::Unreadable) => {
                return Ok(rfc_error("invalid_client_metadata", "unreadable body"));
            }
        };
        match precheck(&body) {
            Ok((body, scope)) => {
                extras.requested_scope = scope;
                req.set_body(body);
            }
            Err(resp) => return Ok(resp),
        }
    }
    let (resp, extras) = EXTRAS
        .scope(RefCell::new(extras), async move {
            let resp = next.call(req).await.map(IntoResponse::into_response);
            let extras = EXTRAS.with(|e| std::mem::take(&mut *e.borrow_mut()));
            (resp, extras)
        })
        .await;
    // An error of the generated layer (e.g. an unsupported media type) is a response too, so
    // that `finish` can answer it in RFC 7591 form.
    let resp = resp.unwrap_or_else(|err| err.into_response());
    finish(resp, extras, writes).await
}

async fn finish(mut resp: Response, extras: DcrExtras, writes: bool) -> poem::Result<Response> {
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED && !resp.headers().contains_key("www-authenticate") {
        resp.headers_mut().insert(
            "www-authenticate",
            poem::http::HeaderValue::from_static(INVALID_TOKEN_CHALLENGE),
        );
    }
    let refused_write = writes
        && status.is_client_error()
        && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    let rewrite = (status.is_success() && extras.metadata.is_some())
        || extras.error_override.is_some()
        || refused_write;
    if !rewrite {
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await?;
    let mut value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        if let (Value::Object(out), Some(Value::Object(meta))) = (&mut value, extras.metadata) {
            for (key, val) in meta {
                out.entry(key).or_insert(val);
            }
        }
    } else if let Some(code) = extras.error_override {
        value["error"] = json!(code);
    } else if value.get("error").and_then(Value::as_str).is_none() {
        // The generated layer refused the body in its own format (an OFB error, or plain text
        // for a body it could not take): answer RFC 7591 instead.
        return Ok(rfc_error(
            "invalid_client_metadata",
            "the registration metadata is invalid",
        ));
    }
    let mut out = Response::from_parts(parts, poem::Body::from(value.to_string()));
    out.headers_mut().remove("content-length");
    Ok(out)
}
