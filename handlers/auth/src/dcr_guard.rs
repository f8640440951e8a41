//! A thin layer around the generated DCR routes for what the generated `DcrApi` cannot carry
//! (see the report on generated code): RFC 7591 errors for bodies the generated payload would
//! refuse with an OFB error body (no `software_statement`, `jwks` by value, a non-JSON body),
//! the requested `scope` (absent from the generated request model), the registered metadata
//! in the 201/200 bodies (absent from the generated response models), and `invalid_scope`
//! (absent from the generated error enum). The implementation and this layer talk through a
//! task-local, set for the duration of one request.

use std::cell::RefCell;

use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Value, json};

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
    tracing::info!(error, description, "registration refused");
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(json!({ "error": error, "error_description": description }).to_string())
}

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
    let writes = matches!(*req.method(), Method::POST | Method::PUT)
        && req.uri().path().starts_with("/register");
    if writes {
        let body = req.take_body().into_bytes().await?;
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
    let resp = resp?;
    finish(resp, extras, writes).await
}

async fn finish(resp: Response, extras: DcrExtras, writes: bool) -> poem::Result<Response> {
    let status = resp.status();
    let rewrite = (status.is_success() && extras.metadata.is_some())
        || extras.error_override.is_some()
        || (writes
            && matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ));
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
    } else if value.get("errors").is_some() {
        // The generated payload refused the body with an OFB error: answer RFC 7591 instead.
        return Ok(rfc_error(
            "invalid_client_metadata",
            "the registration metadata is invalid",
        ));
    }
    let mut out = Response::from_parts(parts, poem::Body::from(value.to_string()));
    out.headers_mut().remove("content-length");
    Ok(out)
}
