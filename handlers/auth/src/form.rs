//! `application/x-www-form-urlencoded` bodies with the OAuth rule that no parameter repeats,
//! and reading any request body under a size cap.

use std::collections::HashMap;

use poem::error::ReadBodyError;
use poem::http::HeaderMap;
use poem::web::headers::{ContentLength, HeaderMapExt};

use crate::error::OAuthError;

/// The largest OAuth form (PAR, token, introspection, revocation). A signed request object is
/// a few KB and a client assertion one; 64 KiB leaves room without letting a request make the
/// server buffer megabytes.
pub const OAUTH_FORM_LIMIT: usize = 64 * 1024;

/// The largest DCR/DCM body: a software statement (a few KB of signed claims) and client
/// metadata.
pub const REGISTRATION_LIMIT: usize = 64 * 1024;

/// The largest consent-portal form: a session id, a CPF and password, or a decision with the
/// ids of the accounts picked.
pub const PORTAL_FORM_LIMIT: usize = 32 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefusal {
    /// Larger than the cap (declared, or found while reading).
    TooLarge,
    /// The connection failed while reading.
    Unreadable,
}

impl BodyRefusal {
    /// The OAuth error of an endpoint refusing a body under `limit`.
    pub fn oauth(self, limit: usize) -> OAuthError {
        match self {
            Self::TooLarge => OAuthError::too_large(limit),
            Self::Unreadable => OAuthError::invalid_request("unreadable body"),
        }
    }
}

/// Reads a body of at most `limit` bytes. A `Content-Length` above the cap is refused before
/// a byte is read; a body without one (chunked, HTTP/2) is read until it passes the cap.
pub async fn read_limited(
    headers: &HeaderMap,
    body: poem::Body,
    limit: usize,
) -> Result<bytes::Bytes, BodyRefusal> {
    if headers
        .typed_get::<ContentLength>()
        .is_some_and(|ContentLength(declared)| declared > limit as u64)
    {
        return Err(BodyRefusal::TooLarge);
    }
    body.into_bytes_limit(limit).await.map_err(|err| match err {
        ReadBodyError::PayloadTooLarge => BodyRefusal::TooLarge,
        _ => BodyRefusal::Unreadable,
    })
}

/// Parses a form body; a repeated parameter is `invalid_request` (RFC 6749 §3.1).
pub fn parse(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the body is not a valid form"))?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        if map.insert(key.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter '{key}' is repeated"
            )));
        }
    }
    Ok(map)
}

/// A required, non-empty parameter.
pub fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    match form.get(name).map(String::as_str) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(OAuthError::invalid_request(format!("'{name}' is required"))),
    }
}
