//! ID tokens: PS256 under the brand's key; the front-channel one is then encrypted
//! (RSA-OAEP / A256GCM) to the client's encryption key from its `jwks_uri`.

use josekit::jwe::JweHeader;
use serde_json::{Map, json};

use crate::brand::Brand;
use crate::crypto::half_hash;
use crate::error::AuthError;
use crate::state::AuthServer;

/// What goes into an id_token besides the standard claims.
pub struct IdTokenClaims<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub acr: &'a str,
    pub auth_time: i64,
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

/// Signs an id_token.
pub fn sign(brand: &Brand, c: &IdTokenClaims<'_>) -> Result<String, AuthError> {
    let now = crate::time::now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(brand.issuer()));
    claims.insert("sub".into(), json!(c.subject));
    claims.insert("aud".into(), json!(c.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    claims.insert("auth_time".into(), json!(c.auth_time));
    claims.insert("acr".into(), json!(c.acr));
    if let Some(nonce) = c.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(code) = c.code {
        claims.insert("c_hash".into(), json!(half_hash(code)));
    }
    if let Some(state) = c.state {
        claims.insert("s_hash".into(), json!(half_hash(state)));
    }
    if let Some(at) = c.access_token {
        claims.insert("at_hash".into(), json!(half_hash(at)));
    }
    Ok(brand.signer.sign_jwt(claims)?)
}

/// Encrypts a signed id_token to the client's encryption key; `None` when it has none.
pub async fn encrypt_for(
    server: &AuthServer,
    jwks_uri: &str,
    signed: &str,
) -> Result<Option<String>, AuthError> {
    let keys = server.keys.get(jwks_uri).await?;
    let Some((kid, encrypter)) = keys.encrypter() else {
        return Ok(None);
    };
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("JWT");
    if let Some(kid) = kid {
        header.set_key_id(kid);
    }
    Ok(Some(josekit::jwe::serialize_compact(
        signed.as_bytes(),
        &header,
        encrypter.as_ref(),
    )?))
}
