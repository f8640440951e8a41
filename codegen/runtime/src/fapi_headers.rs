//! The response headers every regulated API sets (requirements §1.13): `x-v`, the version the
//! installation implements, and `x-fapi-interaction-id`, the caller's when it sent a valid one
//! and a fresh UUID otherwise. Generated `routes()` wrap each API in [`FapiHeaders`].

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

pub const INTERACTION_ID: &str = "x-fapi-interaction-id";

/// The middleware, carrying the API's full version (e.g. `2.4.2`).
#[derive(Debug, Clone, Copy)]
pub struct FapiHeaders {
    version: &'static str,
}

impl FapiHeaders {
    pub const fn new(version: &'static str) -> Self {
        Self { version }
    }
}

impl<E: Endpoint> Middleware<E> for FapiHeaders {
    type Output = FapiHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        FapiHeadersEndpoint {
            inner,
            version: HeaderValue::from_static(self.version),
        }
    }
}

pub struct FapiHeadersEndpoint<E> {
    inner: E,
    version: HeaderValue,
}

/// Whether `value` is an RFC 4122 UUID in its text form, as the spec's pattern requires.
pub fn is_interaction_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

impl<E: Endpoint> Endpoint for FapiHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let interaction = req
            .headers()
            .get(INTERACTION_ID)
            .filter(|v| v.to_str().is_ok_and(is_interaction_id))
            .cloned();
        // An error (no route matched) goes up untouched, so the listener's own error
        // handling still sees it.
        let mut response = self.inner.call(req).await?.into_response();
        let headers = response.headers_mut();
        headers.insert("x-v", self.version.clone());
        if !headers.contains_key(INTERACTION_ID) {
            let value = interaction.unwrap_or_else(|| {
                HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                    .expect("a UUID is a valid header value")
            });
            headers.insert(INTERACTION_ID, value);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_ids_are_uuids() {
        assert!(is_interaction_id("d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9"));
        assert!(!is_interaction_id("d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d"));
        assert!(!is_interaction_id("d78fc4e5x37ca-4da3-adf2-9bd4c1a6c2d9"));
        assert!(!is_interaction_id(""));
    }
}
