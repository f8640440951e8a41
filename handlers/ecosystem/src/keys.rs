//! RSA 2048 keys as JWKs (PS256 signing, RSA-OAEP encryption) with a `kid`, persisted as JSON
//! files, and the PS256 signer/verifier built from them once.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, JwkSet, KeyPair as _};
use josekit::jws::{JwsSigner, JwsVerifier, PS256};
use sha2::Digest;

use crate::error::{EcosystemError, Result};
use crate::files;

/// What a key is for: the JWK `use` and `alg` it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// `use: sig`, `alg: PS256`.
    Signing,
    /// `use: enc`, `alg: RSA-OAEP`.
    Encryption,
}

impl KeyPurpose {
    fn key_use(self) -> &'static str {
        match self {
            Self::Signing => "sig",
            Self::Encryption => "enc",
        }
    }

    fn alg(self) -> &'static str {
        match self {
            Self::Signing => "PS256",
            Self::Encryption => "RSA-OAEP",
        }
    }
}

/// A new RSA 2048 private JWK with `kid` (the RFC 7638 thumbprint), `use` and `alg`.
pub fn generate(purpose: KeyPurpose) -> Result<Jwk> {
    let mut jwk = Jwk::generate_rsa_key(2048)?;
    jwk.set_key_use(purpose.key_use());
    jwk.set_algorithm(purpose.alg());
    let kid = rfc7638_thumbprint(&jwk)?;
    jwk.set_key_id(kid);
    Ok(jwk)
}

/// Loads the private JWK at `path`, or generates and writes one.
pub fn load_or_create(path: &Path, purpose: KeyPurpose) -> Result<Jwk> {
    if path.exists() {
        return load(path);
    }
    let jwk = generate(purpose)?;
    save(path, &jwk)?;
    Ok(jwk)
}

pub fn load(path: &Path) -> Result<Jwk> {
    let text = files::read_string(path)?;
    Ok(Jwk::from_bytes(text.as_bytes())?)
}

pub fn save(path: &Path, jwk: &Jwk) -> Result<()> {
    files::write_atomic(path, jwk.to_string().as_bytes())
}

/// The public half of a private JWK, keeping `kid`, `use` and `alg`.
pub fn public(jwk: &Jwk) -> Result<Jwk> {
    // josekit's own `to_public_key` keeps `use` but drops `kid` and `alg`.
    let mut public = jwk.to_public_key()?;
    if let Some(kid) = jwk.key_id() {
        public.set_key_id(kid);
    }
    if let Some(alg) = jwk.algorithm() {
        public.set_algorithm(alg);
    }
    Ok(public)
}

/// PKCS#8 PEM of an RSA private JWK (to have a certificate issued for it).
pub fn private_pem(jwk: &Jwk) -> Result<String> {
    let pair = RsaKeyPair::from_jwk(jwk)?;
    String::from_utf8(pair.to_pem_private_key())
        .map_err(|_| EcosystemError::Invalid("PEM is not UTF-8".into()))
}

/// RFC 7638 thumbprint of an RSA JWK: SHA-256 over `{"e","kty","n"}`, base64url.
pub fn rfc7638_thumbprint(jwk: &Jwk) -> Result<String> {
    let member = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| EcosystemError::Invalid(format!("JWK has no '{name}'")))
    };
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        member("e")?,
        member("n")?
    );
    Ok(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())))
}

/// A JWK set of public keys.
pub fn jwk_set(keys: Vec<Jwk>) -> JwkSet {
    let mut set = JwkSet::new();
    for key in keys {
        set.push_key(key);
    }
    set
}

/// A PS256 signer and verifier over one RSA key, parsed once.
pub struct Ps256Key {
    kid: String,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public: Jwk,
}

impl std::fmt::Debug for Ps256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ps256Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Ps256Key {
    pub fn from_jwk(private: &Jwk) -> Result<Self> {
        let kid = private
            .key_id()
            .map(str::to_owned)
            .ok_or_else(|| EcosystemError::Invalid("signing JWK has no kid".into()))?;
        let public = public(private)?;
        Ok(Self {
            signer: Box::new(PS256.signer_from_jwk(private)?),
            verifier: Box::new(PS256.verifier_from_jwk(&public)?),
            kid,
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Signs `claims` as a compact JWS with `typ` and this key's `kid` in the header.
    pub fn sign_jwt(&self, claims: serde_json::Map<String, serde_json::Value>) -> Result<String> {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(self.kid.clone());
        let payload = josekit::jwt::JwtPayload::from_map(claims)?;
        Ok(josekit::jwt::encode_with_signer(
            &payload,
            &header,
            self.signer.as_ref(),
        )?)
    }

    /// Verifies a compact JWS signed by this key and returns its claims.
    pub fn verify_jwt(&self, token: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
        let (payload, _) = josekit::jwt::decode_with_verifier(token, self.verifier.as_ref())?;
        Ok(payload.claims_set().clone())
    }
}
