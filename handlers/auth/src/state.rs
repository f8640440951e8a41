//! [`AuthServer`]: everything a request needs, shared behind an `Arc`.

use std::sync::Arc;

use aberta_store::{KeyRing, Store};
use poem::Request;

use crate::brand::{self, Brand};
use crate::config::AuthConfig;
use crate::consent::ConsentStore;
use crate::error::{AuthError, OAuthError};
use crate::identity::IdentityConnector;
use crate::jwks::KeyCache;

/// The authorization server.
pub struct AuthServer {
    pub(crate) store: Store,
    pub(crate) brands: Vec<Arc<Brand>>,
    pub(crate) config: AuthConfig,
    pub(crate) identity: Arc<dyn IdentityConnector>,
    pub(crate) consents: Arc<dyn ConsentStore>,
    /// Client key sets and the directory's.
    pub(crate) keys: KeyCache,
    /// Seals stored logins.
    pub(crate) keyring: Arc<KeyRing>,
}

impl AuthServer {
    /// Loads (or creates) each brand's keys. `http` fetches key sets (it must present the
    /// institution's transport certificate to the directory keystore).
    pub async fn new(
        store: Store,
        config: AuthConfig,
        identity: Arc<dyn IdentityConnector>,
        consents: Arc<dyn ConsentStore>,
        http: reqwest::Client,
    ) -> Result<Arc<Self>, AuthError> {
        if config.brands.is_empty() {
            return Err(AuthError::Config("at least one brand is needed".into()));
        }
        let mut config = config;
        let keyring = match config.keyring.clone() {
            Some(keyring) => keyring,
            None => {
                tracing::warn!("no key ring configured: logins are sealed with a per-process key");
                Arc::new(KeyRing::generate()?)
            }
        };
        config.access_token_ttl = config.access_token_ttl.clamp(300, 900);
        config.par_ttl = config.par_ttl.max(60);
        let mut brands = Vec::new();
        for brand in &config.brands {
            brands.push(Arc::new(
                crate::keys::load_brand(&store, brand.clone()).await?,
            ));
        }
        Ok(Arc::new(Self {
            keys: KeyCache::new(http, config.jwks_ttl),
            store,
            brands,
            config,
            identity,
            consents,
            keyring,
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The brand the request addressed; a host we do not serve is `invalid_request`.
    pub(crate) fn brand(&self, req: &Request) -> Result<Arc<Brand>, OAuthError> {
        self.brand_of(req.headers(), req.uri().authority().map(|a| a.as_str()))
    }

    pub(crate) fn brand_of(
        &self,
        headers: &poem::http::HeaderMap,
        authority: Option<&str>,
    ) -> Result<Arc<Brand>, OAuthError> {
        brand::resolve(&self.brands, headers, authority)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_request("unknown host"))
    }

    /// Revokes every grant (refresh token, and access tokens through their grant) linked to a
    /// consent: call it when a consent is revoked, rejected or consumed.
    pub async fn revoke_consent(&self, brand: &str, consent_id: &str) -> Result<u64, AuthError> {
        Ok(self.store.revoke_consent_grants(brand, consent_id).await?)
    }
}
