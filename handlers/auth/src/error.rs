//! Errors. Policy: a refused OAuth request answers the RFC 6749/7591/9126 error object
//! (`error`, `error_description`). `invalid_client` is a 400: the client authenticated with
//! `private_key_jwt`, not an HTTP scheme, so there is no challenge a 401 could carry
//! (RFC 6749 §5.2, RFC 9110 §15.5.2). A failed bearer token is a 401 whose
//! `WWW-Authenticate: Bearer` names the error (RFC 6750 §3.1). Other refusals are 400.
//! Internal failures answer 500 `server_error` and are logged without secrets. A refusal
//! changes no state.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};

/// Internal failures of the authorization server.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("JOSE: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error("ecosystem: {0}")]
    Ecosystem(#[from] aberta_ecosystem::EcosystemError),
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("rendering a page: {0}")]
    Render(#[from] askama::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// An OAuth error response.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// The `WWW-Authenticate` value, for a refused bearer token only.
    pub challenge: Option<&'static str>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }
    pub fn invalid_request_object(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_object", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
    }
    /// A bearer token that is expired, revoked, unknown or bound to another certificate.
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d)
            .with_challenge("Bearer error=\"invalid_token\"")
    }
    /// No bearer token at all: the challenge carries no error code (RFC 6750 §3.1).
    pub fn token_required(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d).with_challenge("Bearer")
    }
    /// A bearer token without the scope the resource needs (RFC 6750 §3.1).
    pub fn insufficient_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_scope", d)
            .with_challenge("Bearer error=\"insufficient_scope\"")
    }
    /// A body larger than the endpoint accepts, refused without reading it.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the body exceeds {limit} bytes"),
        )
    }
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

impl From<AuthError> for OAuthError {
    fn from(err: AuthError) -> Self {
        tracing::error!(%err, "request failed");
        Self::server_error()
    }
}

impl From<aberta_store::StoreError> for OAuthError {
    fn from(err: aberta_store::StoreError) -> Self {
        AuthError::from(err).into()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::info!(error = self.error, description = %self.description, "request refused");
        let body = serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        });
        let mut resp = Response::builder()
            .status(self.status)
            .content_type("application/json")
            .header("cache-control", "no-store")
            .body(body.to_string());
        if let Some(challenge) = self.challenge {
            resp.headers_mut().insert(
                "www-authenticate",
                poem::http::HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

/// A JSON 200/201 response that must not be cached.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
}
