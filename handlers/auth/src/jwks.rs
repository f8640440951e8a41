//! Remote key sets (clients' `jwks_uri`, the directory's SSA keys), fetched over mTLS and
//! cached with a TTL; keys are parsed once per fetch. A `kid` not in the cached set triggers
//! one early refetch (key rotation), at most every few seconds per set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use josekit::jwe::{JweEncrypter, RSA_OAEP};
use josekit::jwk::JwkSet;
use josekit::jws::{JwsVerifier, PS256};

use crate::error::AuthError;

const MIN_REFETCH: Duration = Duration::from_secs(5);

/// The usable keys of one set.
pub struct RemoteKeys {
    verifiers: Vec<(Option<String>, Arc<dyn JwsVerifier>)>,
    encrypters: Vec<(Option<String>, Arc<dyn JweEncrypter>)>,
    fetched: Instant,
}

impl RemoteKeys {
    fn parse(set: &JwkSet) -> Self {
        let mut verifiers = Vec::new();
        let mut encrypters = Vec::new();
        for jwk in set.keys() {
            if jwk.key_type() != "RSA" {
                continue;
            }
            let kid = jwk.key_id().map(str::to_owned);
            match jwk.key_use() {
                Some("enc") => {
                    if let Ok(enc) = RSA_OAEP.encrypter_from_jwk(jwk) {
                        encrypters.push((kid, Arc::new(enc) as Arc<dyn JweEncrypter>));
                    }
                }
                Some("sig") | None => {
                    if let Ok(ver) = PS256.verifier_from_jwk(jwk) {
                        verifiers.push((kid, Arc::new(ver) as Arc<dyn JwsVerifier>));
                    }
                }
                _ => {}
            }
        }
        Self {
            verifiers,
            encrypters,
            fetched: Instant::now(),
        }
    }

    /// The PS256 verifier for `kid`; without a kid, the set's only signing key.
    pub fn verifier(&self, kid: Option<&str>) -> Option<Arc<dyn JwsVerifier>> {
        match kid {
            Some(kid) => self
                .verifiers
                .iter()
                .find(|(k, _)| k.as_deref() == Some(kid))
                .map(|(_, v)| v.clone()),
            None if self.verifiers.len() == 1 => Some(self.verifiers[0].1.clone()),
            None => None,
        }
    }

    /// The first RSA-OAEP encryption key, with its kid.
    pub fn encrypter(&self) -> Option<(Option<String>, Arc<dyn JweEncrypter>)> {
        self.encrypters.first().cloned()
    }
}

/// The cache shared by every request.
pub struct KeyCache {
    http: reqwest::Client,
    ttl: Duration,
    sets: Mutex<HashMap<String, Arc<RemoteKeys>>>,
}

impl KeyCache {
    pub fn new(http: reqwest::Client, ttl: Duration) -> Self {
        Self {
            http,
            ttl,
            sets: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, url: &str) -> Option<Arc<RemoteKeys>> {
        self.sets.lock().ok()?.get(url).cloned()
    }

    /// The set at `url`, from the cache when fresh.
    pub async fn get(&self, url: &str) -> Result<Arc<RemoteKeys>, AuthError> {
        if let Some(keys) = self.cached(url)
            && keys.fetched.elapsed() < self.ttl
        {
            return Ok(keys);
        }
        self.fetch(url).await
    }

    /// The verifier for `kid` at `url`, refetching once when the kid is new.
    pub async fn verifier(
        &self,
        url: &str,
        kid: Option<&str>,
    ) -> Result<Option<Arc<dyn JwsVerifier>>, AuthError> {
        let keys = self.get(url).await?;
        if let Some(found) = keys.verifier(kid) {
            return Ok(Some(found));
        }
        if keys.fetched.elapsed() < MIN_REFETCH {
            return Ok(None);
        }
        Ok(self.fetch(url).await?.verifier(kid))
    }

    async fn fetch(&self, url: &str) -> Result<Arc<RemoteKeys>, AuthError> {
        let failed = |reason: String| AuthError::Fetch {
            url: url.to_string(),
            reason,
        };
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        // A set that is not there (an organisation the directory does not know) has no keys:
        // what it signed does not verify. Any other failure is the keystore's.
        let set = if resp.status() == reqwest::StatusCode::NOT_FOUND {
            JwkSet::new()
        } else if resp.status().is_success() {
            let body = resp.bytes().await.map_err(|e| failed(e.to_string()))?;
            JwkSet::from_bytes(&body).map_err(|e| failed(e.to_string()))?
        } else {
            return Err(failed(format!("status {}", resp.status())));
        };
        let keys = Arc::new(RemoteKeys::parse(&set));
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(url.to_string(), keys.clone());
        }
        Ok(keys)
    }
}
