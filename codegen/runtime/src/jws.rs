//! The seam for signed bodies (`application/jwt`, marked `x-aberta-jws` by the overlays).
//!
//! Generated servers verify request bodies and sign response bodies through a [`JwsCodec`] that
//! the composition root passes to `routes`; generated clients do the same through
//! [`crate::client::ClientJws`]. The crypto itself lives with the handlers.

use crate::RequestContext;

#[derive(Debug, Clone, thiserror::Error)]
pub enum JwsError {
    /// The signature, header or claims do not verify; maps to 400 `BAD_SIGNATURE`.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A claim check other than the signature failed (`aud`, `iss`, `iat`, `jti`); maps to
    /// 403 `INVALID_CLIENT`.
    #[error("rejected claims: {0}")]
    Claims(String),
    /// The keys to check against could not be had (the directory is down); maps to 500.
    #[error("keys unavailable: {0}")]
    Unavailable(String),
    /// The body could not be signed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Verifies signed request bodies and signs response bodies for one server. Verifying may
/// fetch keys and record the `jti`, so it is async; signing is CPU only.
#[async_trait::async_trait]
pub trait JwsCodec: Send + Sync + 'static {
    /// Checks a compact JWS and returns its payload.
    async fn verify(
        &self,
        ctx: &RequestContext,
        compact: &str,
    ) -> Result<serde_json::Value, JwsError>;
    /// Signs a response payload.
    fn sign(&self, ctx: &RequestContext, payload: serde_json::Value) -> Result<String, JwsError>;
}

/// The codec as request data, inserted by generated `routes` for APIs with signed bodies.
#[derive(Clone)]
pub struct JwsHandle(pub std::sync::Arc<dyn JwsCodec>);
