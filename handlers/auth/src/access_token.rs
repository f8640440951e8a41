//! Self-contained access tokens: `base64url(claims).base64url(HMAC-SHA256)` under the brand's
//! MAC key. Issuing one writes nothing; checking one verifies the MAC, the expiry and the
//! brand, then looks up the revocation list (and the grant, for user tokens). This is the
//! speed choice of issue 4: no synchronous insert per token.

use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};

use crate::brand::Brand;
use crate::crypto;
use crate::error::AuthError;
use crate::state::AuthServer;

/// The claims inside an access token (short names keep the token small).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    #[serde(rename = "b")]
    pub brand: String,
    #[serde(rename = "c")]
    pub client_id: String,
    #[serde(rename = "s")]
    pub scope: String,
    /// `cnf.x5t#S256`: the certificate the token is bound to.
    #[serde(rename = "x")]
    pub thumbprint: String,
    #[serde(rename = "e")]
    pub exp: i64,
    #[serde(rename = "i")]
    pub iat: i64,
    #[serde(rename = "j")]
    pub jti: String,
    /// The grant of an authorization-code token.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
}

impl TokenInfo {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_whitespace().any(|s| s == scope)
    }

    /// Issued by the authorization-code grant (a customer authorised it), as opposed to
    /// client_credentials.
    pub fn is_customer_token(&self) -> bool {
        self.grant_id.is_some()
    }
}

/// Signs the claims into a token.
pub fn mint(brand: &Brand, info: &TokenInfo) -> Result<String, AuthError> {
    let body = crypto::b64(&serde_json::to_vec(info)?);
    let tag = hmac::sign(&brand.mac, body.as_bytes());
    Ok(format!("{body}.{}", crypto::b64(tag.as_ref())))
}

/// The claims of a token this brand issued (MAC only; expiry and revocation are checked by
/// [`AuthServer::introspect_token`]).
pub fn open(brand: &Brand, token: &str) -> Option<TokenInfo> {
    let (body, tag) = token.split_once('.')?;
    let tag = crypto::unb64(tag)?;
    hmac::verify(&brand.mac, body.as_bytes(), &tag).ok()?;
    let info: TokenInfo = serde_json::from_slice(&crypto::unb64(body)?).ok()?;
    (info.brand == brand.id()).then_some(info)
}

impl AuthServer {
    /// The claims of an active token of `brand`: right MAC, unexpired, not revoked, grant live.
    /// Resource servers in this process call this; `/introspect` serves other instances.
    pub async fn introspect_token(
        &self,
        brand: &str,
        token: &str,
    ) -> Result<Option<TokenInfo>, AuthError> {
        let Some(brand) = self.brands.iter().find(|b| b.id() == brand) else {
            return Ok(None);
        };
        let Some(info) = open(brand, token) else {
            return Ok(None);
        };
        if info.exp <= crate::time::now() {
            return Ok(None);
        }
        let stands = self
            .store
            .token_stands(brand.id(), &info.jti, info.grant_id.as_deref())
            .await?;
        Ok(stands.then_some(info))
    }
}
