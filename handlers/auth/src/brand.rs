//! Resolving the brand of a request from its host, and the per-brand runtime state (keys).

use std::sync::Arc;

use aberta_ecosystem::keys::Ps256Key;
use aws_lc_rs::hmac;
use poem::http::HeaderMap;

use crate::config::BrandConfig;

/// A brand with its keys, parsed once.
pub struct Brand {
    pub config: BrandConfig,
    /// `host[:port]` of the issuer, lower case: what the Host header must equal.
    pub authority: String,
    pub signer: Ps256Key,
    pub mac: hmac::Key,
    pub jwks_json: String,
}

impl std::fmt::Debug for Brand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brand")
            .field("id", &self.config.id)
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Brand {
    pub fn id(&self) -> &str {
        &self.config.id
    }
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }
    /// Audiences a client assertion may carry here (RFC 9126 §2: issuer, token or PAR URL).
    pub fn assertion_audiences(&self) -> [String; 5] {
        [
            self.config.issuer.clone(),
            self.url("/token"),
            self.url("/par"),
            self.url("/introspect"),
            self.url("/revoke"),
        ]
    }
}

/// The issuer authority of `issuer` (`https://host:port` -> `host:port`).
pub fn authority_of(issuer: &str) -> String {
    issuer
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

/// The brand whose issuer host the request addressed (`Host`, or the HTTP/2 authority).
pub fn resolve<'a>(
    brands: &'a [Arc<Brand>],
    headers: &HeaderMap,
    uri_authority: Option<&str>,
) -> Option<&'a Arc<Brand>> {
    let host = headers
        .get(poem::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(uri_authority)?
        .to_ascii_lowercase();
    brands.iter().find(|b| b.authority == host)
}
