//! Small primitives: random tokens, SHA-256 digests, the OIDC half-hash, PKCE.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG does not fail on the platforms we run on; a zero key would be refused
    // by the MAC check anyway.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        tracing::error!("system RNG failed");
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url SHA-256: how secrets (codes, refresh and registration tokens) are stored.
pub fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// `c_hash` / `s_hash` / `at_hash` for PS256: base64url of the left half of SHA-256.
pub fn half_hash(value: &str) -> String {
    let full = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&full[..16])
}

/// PKCE S256: does `verifier` hash to `challenge`?
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid && digest(verifier) == challenge
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}
