//! The PCM access token: OAuth 2 client credentials over mutual TLS (the institution's
//! transport certificate authenticates it), cached until shortly before it expires. The token
//! is bound to the certificate, so the same certificate must present it.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{PcmError, Result};

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A PCM client authorised by a current token.
pub(crate) struct Authorised {
    pub client: ofb_pcm_v1::client::Client,
    renew_at: Instant,
}

/// Obtains tokens and keeps the current one (with a PCM client that presents it).
pub(crate) struct TokenCache {
    token_url: String,
    base_url: String,
    form: String,
    builder: Box<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>,
    http: reqwest::Client,
    current: Mutex<Option<std::sync::Arc<Authorised>>>,
}

impl TokenCache {
    /// `builder` makes an HTTP client presenting the institution's certificate.
    pub fn new(
        token_url: String,
        base_url: String,
        client_id: Option<&str>,
        scope: Option<&str>,
        builder: Box<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>,
    ) -> Result<Self> {
        let mut form = String::from("grant_type=client_credentials");
        if let Some(client_id) = client_id {
            form.push_str("&client_id=");
            form.push_str(&form_encode(client_id));
        }
        if let Some(scope) = scope {
            form.push_str("&scope=");
            form.push_str(&form_encode(scope));
        }
        let http = builder()
            .build()
            .map_err(|e| PcmError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            token_url,
            base_url,
            form,
            builder,
            http,
            current: Mutex::new(None),
        })
    }

    /// A client with a token valid for at least [`RENEW_BEFORE`].
    pub async fn client(&self) -> Result<std::sync::Arc<Authorised>> {
        let mut current = self.current.lock().await;
        if let Some(authorised) = current.as_ref()
            && Instant::now() < authorised.renew_at
        {
            return Ok(authorised.clone());
        }
        let authorised = std::sync::Arc::new(self.fetch().await?);
        *current = Some(authorised.clone());
        Ok(authorised)
    }

    /// Forgets the current token (the PCM refused it).
    pub async fn forget(&self) {
        *self.current.lock().await = None;
    }

    async fn fetch(&self) -> Result<Authorised> {
        let response = self
            .http
            .post(&self.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(self.form.clone())
            .send()
            .await
            .map_err(|e| PcmError::Token(format!("request failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PcmError::Token(format!("token endpoint answered {status}")));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|_| PcmError::Token("the token response is not JSON".into()))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300));
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.access_token))
            .map_err(|_| PcmError::Token("the access token is not a header value".into()))?;
        bearer.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, bearer);
        let http = (self.builder)()
            .default_headers(headers)
            .build()
            .map_err(|e| PcmError::Config(format!("HTTP client: {e}")))?;
        tracing::info!(expires_in = lifetime.as_secs(), "PCM access token obtained");
        Ok(Authorised {
            client: ofb_pcm_v1::client::Client::new_with_client(
                &self.base_url,
                http,
                aberta_runtime::client::ClientHooks::default(),
            ),
            renew_at: Instant::now() + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2),
        })
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("report"), "report");
        assert_eq!(form_encode("a b:c/d"), "a+b%3Ac%2Fd");
    }
}
