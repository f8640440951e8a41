//! The token check of every protected resource call (requirements §1.13): a bearer token this
//! brand issued, active, and bound to the certificate of the connection presenting it.

use aberta_runtime::error_body::Rejection;
use aberta_runtime::gate::Authenticate;
use aberta_runtime::{RequestContext, Verified};
use poem::http::StatusCode;

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

    /// The active, certificate-bound token of a protected call. A token the authentication
    /// hook already verified for this request is reused, not looked up again.
    pub async fn check_bearer(
        &self,
        ctx: &RequestContext,
    ) -> Result<Result<TokenInfo, BearerRefusal>, AuthError> {
        if let Some(info) = ctx.verified::<TokenInfo>() {
            return Ok(Ok(info.clone()));
        }
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

impl BearerRefusal {
    /// Why, for the error body's `detail` (never the token).
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "no bearer token",
            Self::Inactive => "the token is not active",
            Self::CertificateMismatch => "the token is not bound to this certificate",
            Self::UnknownHost => "unknown host",
        }
    }
}

/// The hook the generated routes run before a secured operation reads its parameters: a call
/// without an active, certificate-bound token answers 401 whatever else it lacks.
#[async_trait::async_trait]
impl Authenticate for AuthServer {
    async fn authenticate(&self, req: &poem::Request) -> Result<Verified, Rejection> {
        let ctx = RequestContext::from_request(req, "", "");
        match self.check_bearer(&ctx).await {
            Ok(Ok(info)) => Ok(Verified::new(info)),
            Ok(Err(refusal)) => {
                tracing::info!(?refusal, "call without a usable token");
                Err(Rejection::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "Não autorizado",
                    refusal.detail(),
                ))
            }
            Err(err) => {
                tracing::error!(error = %err, "token check failed");
                Err(Rejection::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "Erro interno",
                    "the token could not be checked",
                ))
            }
        }
    }
}
