//! The signed-body codec of the payments routes ([`JwsCodec`]): a request is verified against
//! the keys the sending organisation publishes in the directory keystore (the software's set
//! named by the client certificate, then the organisation's), for the endpoint URL called,
//! with its `jti` recorded; a response is signed with the institution's key of the brand
//! called, for the client's organisation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aberta_auth::AuthServer;
use aberta_runtime::RequestContext;
use aberta_runtime::context::CertSubject;
use aberta_runtime::jws::{JwsCodec, JwsError};
use async_trait::async_trait;
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, PS256};
use serde_json::Value;

use crate::error::PaymentsError;
use crate::keystore::DirectoryKeys;
use crate::signed::{self, Expectations, JtiLedger};

/// The key an institution signs its payment messages with (its BRSEAL key) and the
/// organisation id it signs as.
pub struct SigningIdentity {
    pub org_id: String,
    kid: String,
    signer: Box<dyn JwsSigner>,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("org_id", &self.org_id)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningIdentity {
    /// From a private PS256 JWK with a `kid`.
    pub fn from_jwk(org_id: &str, jwk: &Jwk) -> Result<Self, PaymentsError> {
        let kid = jwk
            .key_id()
            .ok_or_else(|| PaymentsError::Signing("the signing JWK has no kid".into()))?
            .to_string();
        let signer = PS256
            .signer_from_jwk(jwk)
            .map_err(|e| PaymentsError::Signing(e.to_string()))?;
        Ok(Self {
            org_id: org_id.to_string(),
            kid,
            signer: Box::new(signer),
        })
    }
}

/// The organisation and software a client certificate names.
fn sender(ctx: &RequestContext) -> Option<&CertSubject> {
    ctx.client_cert.as_ref()?.subject.as_ref()
}

pub struct PaymentsCodec {
    auth: Arc<AuthServer>,
    keys: DirectoryKeys,
    jti: JtiLedger,
    identities: HashMap<String, SigningIdentity>,
}

impl std::fmt::Debug for PaymentsCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentsCodec")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl PaymentsCodec {
    /// `identities`: the signing identity of each brand id. `keystore_base` is the directory
    /// keystore's root; fetched key sets live `ttl`.
    pub fn new(
        auth: Arc<AuthServer>,
        http: reqwest::Client,
        keystore_base: &str,
        ttl: Duration,
        jti: JtiLedger,
        identities: HashMap<String, SigningIdentity>,
    ) -> Self {
        Self {
            auth,
            keys: DirectoryKeys::new(http, keystore_base, ttl),
            jti,
            identities,
        }
    }

    /// The brand's organisation id (`iss` of our messages).
    pub fn org_id(&self, brand: &str) -> Option<&str> {
        self.identities.get(brand).map(|i| i.org_id.as_str())
    }
}

#[async_trait]
impl JwsCodec for PaymentsCodec {
    async fn verify(&self, ctx: &RequestContext, compact: &str) -> Result<Value, JwsError> {
        let brand = self
            .auth
            .brand_id(ctx)
            .ok_or_else(|| JwsError::Claims("unknown host".into()))?;
        let who = sender(ctx).ok_or_else(|| {
            JwsError::Claims("the client certificate names no organisation".into())
        })?;
        let authority = ctx.authority.as_deref().unwrap_or_default();
        let expect = Expectations {
            brand,
            audience: format!("https://{authority}{}", ctx.path),
            issuer: who.org_id.clone(),
        };
        let keys = self.keys.of_software(&who.software_id);
        let now = chrono::Utc::now().timestamp();
        match signed::verify_request(compact, &expect, &keys, &self.jti, now).await {
            Ok(claims) => Ok(claims.into_inner()),
            Err(err) => {
                let (status, _, detail) = err.answer();
                tracing::info!(%status, detail, "signed request refused");
                Err(match status.as_u16() {
                    400 => JwsError::BadSignature(detail),
                    403 => JwsError::Claims(detail),
                    _ => JwsError::Unavailable(detail),
                })
            }
        }
    }

    fn sign(&self, ctx: &RequestContext, payload: Value) -> Result<String, JwsError> {
        let brand = self
            .auth
            .brand_id(ctx)
            .ok_or_else(|| JwsError::Signing("unknown host".into()))?;
        let identity = self
            .identities
            .get(&brand)
            .ok_or_else(|| JwsError::Signing(format!("brand {brand} has no signing key")))?;
        let audience = sender(ctx)
            .map(|who| who.org_id.as_str())
            .ok_or_else(|| JwsError::Signing("no client organisation to sign for".into()))?;
        signed::sign_response(
            payload,
            identity.signer.as_ref(),
            &identity.kid,
            audience,
            &identity.org_id,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e| JwsError::Signing(e.to_string()))
    }
}
