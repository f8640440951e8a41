//! `x-fapi-interaction-id`: echoed (or minted) on every response and carried by the request's
//! tracing span. Also fills `Host` from the HTTP/2 authority so the brand can be resolved.

use aberta_runtime::fapi_headers::{INTERACTION_ID as HEADER, is_interaction_id};
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

/// Wraps an endpoint so every response carries the interaction id.
pub async fn around<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    // HTTP/2 carries the host in the URI authority; handlers resolve the brand from `Host`.
    if !req.headers().contains_key(poem::http::header::HOST)
        && let Some(value) = req
            .uri()
            .authority()
            .and_then(|a| poem::http::HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(poem::http::header::HOST, value);
    }
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_interaction_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span =
        tracing::info_span!("request", x_fapi_interaction_id = %id, path = %req.uri().path());
    let result = next.call(req).instrument(span).await;
    let mut resp = match result {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    if let Ok(value) = poem::http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, value);
    }
    Ok(resp)
}
