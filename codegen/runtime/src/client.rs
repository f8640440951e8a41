//! Hooks for the generated progenitor clients.
//!
//! Every generated client carries a [`ClientHooks`] value as its inner state. For operations
//! whose body the overlays mark as signed, the hook replaces the JSON body progenitor built with
//! a compact JWS made by the [`ClientJws`] signer and, on the way back, turns a signed response
//! into the JSON progenitor expects after checking it.

use std::sync::Arc;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};

/// Signs request payloads and checks signed responses for a client.
pub trait ClientJws: Send + Sync + 'static {
    fn sign(&self, operation_id: &str, payload: serde_json::Value) -> Result<String, String>;
    fn verify(&self, operation_id: &str, compact: &str) -> Result<serde_json::Value, String>;
}

/// The inner state of every generated client.
#[derive(Clone, Default)]
pub struct ClientHooks {
    pub jws: Option<Arc<dyn ClientJws>>,
}

impl std::fmt::Debug for ClientHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHooks")
            .field("jws", &self.jws.is_some())
            .finish()
    }
}

impl ClientHooks {
    pub fn with_jws(jws: Arc<dyn ClientJws>) -> Self {
        Self { jws: Some(jws) }
    }

    /// Before sending: sign the body of a signed operation.
    // The error type is progenitor's, as its hook requires.
    #[allow(clippy::result_large_err)]
    pub fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        operation_id: &str,
        signed: bool,
    ) -> Result<(), progenitor_client::Error<E>> {
        if !signed {
            return Ok(());
        }
        request.headers_mut().insert(
            ACCEPT,
            HeaderValue::from_static("application/jwt, application/json"),
        );
        let Some(body) = request.body().and_then(|b| b.as_bytes()) else {
            return Ok(());
        };
        let jws = self.signer()?;
        let payload: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| progenitor_client::Error::Custom(format!("body is not JSON: {e}")))?;
        let compact = jws
            .sign(operation_id, payload)
            .map_err(progenitor_client::Error::Custom)?;
        *request.body_mut() = Some(compact.into());
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/jwt"));
        Ok(())
    }

    /// Sends the request; a signed response is checked and handed on as JSON.
    pub async fn exec(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        operation_id: &str,
        signed: bool,
    ) -> reqwest::Result<reqwest::Response> {
        let response = client.execute(request).await?;
        let is_jwt = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        if !signed || !is_jwt {
            return Ok(response);
        }
        let Some(jws) = self.jws.clone() else {
            return Ok(response);
        };
        let status = response.status();
        let headers = response.headers().clone();
        let compact = response.text().await?;
        let (status, body) = match jws.verify(operation_id, compact.trim()) {
            Ok(payload) => (status, serde_json::to_vec(&payload).unwrap_or_default()),
            // A response that does not verify must not be read as if it did.
            Err(reason) => (
                reqwest::StatusCode::BAD_GATEWAY,
                format!(
                    "{{\"aberta_jws_error\":{}}}",
                    serde_json::Value::String(reason)
                )
                .into_bytes(),
            ),
        };
        let mut rebuilt = http_response(status, body);
        for (name, value) in headers.iter() {
            if name != CONTENT_TYPE && name != reqwest::header::CONTENT_LENGTH {
                rebuilt.headers_mut().insert(name.clone(), value.clone());
            }
        }
        rebuilt
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(reqwest::Response::from(rebuilt))
    }

    #[allow(clippy::result_large_err)]
    fn signer<E>(&self) -> Result<&Arc<dyn ClientJws>, progenitor_client::Error<E>> {
        self.jws.as_ref().ok_or_else(|| {
            progenitor_client::Error::Custom(
                "this operation sends a signed body and the client has no signer".to_string(),
            )
        })
    }
}

fn http_response(status: reqwest::StatusCode, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
}
