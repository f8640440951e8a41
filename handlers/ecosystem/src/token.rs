//! OAuth 2 client credentials over mutual TLS, as the directory and the PCM run it: the client
//! is the software whose active transport certificate is presented (RFC 8705
//! `tls_client_auth`), and the access token is a PS256 JWT bound to that certificate
//! (`cnf.x5t#S256`), so any process holding the same data directory can verify it.

use std::collections::HashMap;
use std::sync::Arc;

use aberta_runtime::context::ClientCert;
use poem::http::StatusCode;
use poem::{Request, Response};
use serde_json::{Map, Value, json};

use crate::http_error;
use crate::keys::Ps256Key;
use crate::pki;
use crate::registry::Registry;

/// Who called, once the bearer token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    pub software_id: String,
}

/// Issues and checks access tokens for one service (directory or PCM).
#[derive(Debug, Clone)]
pub struct TokenService {
    key: Arc<Ps256Key>,
    issuer: String,
    scope: &'static str,
    ttl_secs: i64,
    registry: Registry,
}

impl TokenService {
    pub fn new(
        key: Arc<Ps256Key>,
        issuer: String,
        scope: &'static str,
        ttl_secs: i64,
        registry: Registry,
    ) -> Self {
        Self {
            key,
            issuer,
            scope,
            ttl_secs,
            registry,
        }
    }

    /// `POST /token` with an `application/x-www-form-urlencoded` body.
    pub fn token(&self, req: &Request, body: &[u8]) -> Response {
        let form: HashMap<String, String> = match serde_urlencoded_pairs(body) {
            Some(form) => form,
            None => {
                return http_error::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the body must be application/x-www-form-urlencoded",
                );
            }
        };
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return http_error::oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
        if let Some(scope) = form.get("scope")
            && !scope.split(' ').all(|s| s == self.scope)
        {
            return http_error::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "the requested scope is not available",
            );
        }
        let Some(cert) = req.extensions().get::<ClientCert>() else {
            return invalid_client("a client certificate is required");
        };
        let Some(identity) = &cert.subject else {
            return invalid_client("the certificate carries no UID and organizationIdentifier");
        };
        if let Some(client_id) = form.get("client_id")
            && client_id != &identity.software_id
        {
            return invalid_client("client_id does not match the certificate");
        }
        match self
            .registry
            .key_files(&identity.org_id, &identity.software_id)
        {
            Ok(files) => match pki::certs_from_pem_file(&files.transport_cert) {
                Ok(active) if active.first().is_some_and(|c| c.as_ref() == &*cert.der) => {}
                Ok(_) => {
                    return invalid_client(
                        "the certificate is not the software's active transport certificate",
                    );
                }
                Err(_) => return http_error::internal(),
            },
            Err(crate::EcosystemError::UnknownOrganisation(_))
            | Err(crate::EcosystemError::UnknownSoftware { .. }) => {
                return invalid_client("the software is not registered");
            }
            Err(_) => return http_error::internal(),
        }
        let now = chrono::Utc::now().timestamp();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(identity.software_id));
        claims.insert("client_id".into(), json!(identity.software_id));
        claims.insert("org_id".into(), json!(identity.org_id));
        claims.insert("scope".into(), json!(self.scope));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.ttl_secs));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("cnf".into(), json!({ "x5t#S256": cert.thumbprint }));
        match self.key.sign_jwt(claims) {
            Ok(token) => {
                tracing::info!(software_id = %identity.software_id, "access token issued");
                http_error::json(
                    StatusCode::OK,
                    &json!({
                        "access_token": token,
                        "token_type": "Bearer",
                        "expires_in": self.ttl_secs,
                        "scope": self.scope,
                    }),
                )
            }
            Err(err) => {
                tracing::error!(%err, "token signing failed");
                http_error::internal()
            }
        }
    }

    /// Checks `Authorization: Bearer` against the headers and certificate of a request.
    /// The error is the 401 to send back.
    pub fn authorise(
        &self,
        headers: &poem::http::HeaderMap,
        cert: Option<&ClientCert>,
    ) -> Result<Caller, Response> {
        self.check(headers, cert).map_err(invalid_token)
    }

    /// As [`TokenService::authorise`], with the reason of a refusal.
    pub fn check(
        &self,
        headers: &poem::http::HeaderMap,
        cert: Option<&ClientCert>,
    ) -> Result<Caller, &'static str> {
        let token = headers
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("a bearer token is required")?;
        let claims = self
            .key
            .verify_jwt(token.trim())
            .map_err(|_| "the token signature does not verify")?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        if text("iss").as_deref() != Some(self.issuer.as_str()) {
            return Err("the token was issued by someone else");
        }
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= chrono::Utc::now().timestamp() {
            return Err("the token has expired");
        }
        if !text("scope").is_some_and(|s| s.split(' ').any(|s| s == self.scope)) {
            return Err("the token lacks the scope");
        }
        let bound = claims
            .get("cnf")
            .and_then(|c| c.get("x5t#S256"))
            .and_then(Value::as_str);
        if bound.is_none() || bound != cert.map(|c| c.thumbprint.as_str()) {
            return Err("the token is bound to another certificate");
        }
        match (text("org_id"), text("sub")) {
            (Some(org_id), Some(software_id)) => Ok(Caller {
                org_id,
                software_id,
            }),
            _ => Err("the token has no subject"),
        }
    }
}

fn invalid_client(description: &str) -> Response {
    http_error::oauth(StatusCode::UNAUTHORIZED, "invalid_client", description)
}

fn invalid_token(description: &str) -> Response {
    http_error::oauth(StatusCode::UNAUTHORIZED, "invalid_token", description)
}

/// Decodes `a=b&c=d` with percent-decoding and `+` as space; `None` when not UTF-8.
fn serde_urlencoded_pairs(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k)?, percent_decode(v)?);
    }
    Some(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}
