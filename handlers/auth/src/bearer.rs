//! The token check of every protected resource call (requirements §1.13): a bearer token this
//! brand issued, active, and bound to the certificate of the connection presenting it.

use aberta_runtime::RequestContext;

use crate::access_token::TokenInfo;
use crate::error::AuthError;
use crate::state::AuthServer;

/// Why the token layer refused a call; every case is a 401 to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerRefusal {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// Not a token of this brand, expired, revoked, or its grant is gone.
    Inactive,
    /// No client certificate, or not the one the token is bound to.
    CertificateMismatch,
    /// The host names no brand of this installation.
    UnknownHost,
}

impl AuthServer {
    /// The id of the brand whose host `ctx` addressed.
    pub fn brand_id(&self, ctx: &RequestContext) -> Option<String> {
        crate::brand::resolve(&self.brands, &ctx.headers, ctx.authority.as_deref())
            .map(|b| b.id().to_string())
    }

    /// The active, certificate-bound token of a protected call.
    pub async fn check_bearer(
        &self,
        ctx: &RequestContext,
    ) -> Result<Result<TokenInfo, BearerRefusal>, AuthError> {
        let Some(brand) = self.brand_id(ctx) else {
            return Ok(Err(BearerRefusal::UnknownHost));
        };
        let Some(token) = ctx
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Ok(Err(BearerRefusal::Missing));
        };
        let Some(info) = self.introspect_token(&brand, token).await? else {
            return Ok(Err(BearerRefusal::Inactive));
        };
        match &ctx.client_cert {
            Some(cert) if cert.thumbprint == info.thumbprint => Ok(Ok(info)),
            _ => Ok(Err(BearerRefusal::CertificateMismatch)),
        }
    }
}
