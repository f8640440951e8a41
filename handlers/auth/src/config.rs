//! What an installation configures: its brands (issuer host, portal look) and the settings
//! shared by all of them.

use std::sync::Arc;
use std::time::Duration;

use aberta_store::KeyRing;

/// One brand of the institution: its own issuer (and so host), keys and portal look.
#[derive(Debug, Clone)]
pub struct BrandConfig {
    /// Short stable id written into every record (`aberta-demo`).
    pub id: String,
    /// `https://host[:port]`, no trailing slash.
    pub issuer: String,
    pub display_name: String,
    pub logo_url: String,
    pub primary_colour: String,
    pub accent_colour: String,
    pub welcome_text: String,
}

/// Settings shared by every brand.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub brands: Vec<BrandConfig>,
    /// The directory key set that signs software statements.
    pub directory_jwks_url: String,
    /// Access-token lifetime; clamped to FAPI-BR's 300..=900 s.
    pub access_token_ttl: i64,
    /// `request_uri` lifetime (at least 60 s).
    pub par_ttl: i64,
    /// How long fetched key sets are reused.
    pub jwks_ttl: Duration,
    /// Seals what a login stores (the customer's CPF and name in the portal session). Every
    /// instance of one deployment must share it; without one, each process makes its own,
    /// which suits a single instance only.
    pub keyring: Option<Arc<KeyRing>>,
}

impl AuthConfig {
    pub fn new(brands: Vec<BrandConfig>, directory_jwks_url: impl Into<String>) -> Self {
        Self {
            brands,
            directory_jwks_url: directory_jwks_url.into(),
            access_token_ttl: 600,
            par_ttl: 90,
            jwks_ttl: Duration::from_secs(300),
            keyring: None,
        }
    }

    /// The key ring that seals the portal's stored logins.
    pub fn with_keyring(mut self, keyring: Arc<KeyRing>) -> Self {
        self.keyring = Some(keyring);
        self
    }
}
