//! Per-brand keys kept in the database so every instance signs with the same key: the PS256
//! signing JWK and the access-token MAC key, created on first start.

use aberta_ecosystem::keys::{self, KeyPurpose, Ps256Key};
use aberta_store::Store;
use aws_lc_rs::hmac;
use josekit::jwk::Jwk;

use crate::brand::{Brand, authority_of};
use crate::config::BrandConfig;
use crate::crypto;
use crate::error::AuthError;

/// Loads (or creates) the brand's keys.
pub async fn load_brand(store: &Store, config: BrandConfig) -> Result<Brand, AuthError> {
    let now = crate::time::now();
    let jwk_text = match store.secret(&config.id, "signing-jwk").await? {
        Some(text) => text,
        None => {
            let fresh = keys::generate(KeyPurpose::Signing)?.to_string();
            store
                .secret_or_create(&config.id, "signing-jwk", || fresh, now)
                .await?
        }
    };
    let jwk = Jwk::from_bytes(jwk_text.as_bytes())?;
    let signer = Ps256Key::from_jwk(&jwk)?;
    let mac_text = store
        .secret_or_create(&config.id, "access-token-mac", crypto::random_token, now)
        .await?;
    let mac_bytes = crypto::unb64(&mac_text)
        .ok_or_else(|| AuthError::Config("the stored MAC key is not base64url".into()))?;
    let jwks_json = keys::jwk_set(vec![signer.public_jwk().clone()]).to_string();
    Ok(Brand {
        authority: authority_of(&config.issuer),
        config,
        signer,
        mac: hmac::Key::new(hmac::HMAC_SHA256, &mac_bytes),
        jwks_json,
    })
}
