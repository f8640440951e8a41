//! [`DirectoryKeys`]: the sending organisation's signing keys, read from the directory
//! keystore at `{keystore_base}/{org_id}/application.jwks` through the authorization server's
//! key cache (TTL; a `kid` missing from the cached set triggers one early refetch, for key
//! rotation, at most every few seconds per set).

use std::sync::Arc;
use std::time::Duration;

use aberta_auth::AuthError;
use aberta_auth::jwks::KeyCache;
use async_trait::async_trait;
use josekit::jws::JwsVerifier;

use crate::error::PaymentsError;
use crate::signed::OrganisationKeys;

/// Organisation keys from the directory keystore.
pub struct DirectoryKeys {
    keystore_base: String,
    sets: KeyCache,
}

impl std::fmt::Debug for DirectoryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryKeys")
            .field("keystore_base", &self.keystore_base)
            .finish_non_exhaustive()
    }
}

impl DirectoryKeys {
    /// `keystore_base` is the keystore's root (for the production directory
    /// `https://keystore.directory.openbankingbrasil.org.br`); `ttl` how long a fetched set is
    /// trusted.
    pub fn new(http: reqwest::Client, keystore_base: &str, ttl: Duration) -> Self {
        Self {
            keystore_base: keystore_base.trim_end_matches('/').to_string(),
            sets: KeyCache::new(http, ttl),
        }
    }

    /// The key-set URL of an organisation; `None` when the id could not be one (it becomes a
    /// path segment, so only letters, digits and `-` are allowed).
    pub fn url_of(&self, org_id: &str) -> Option<String> {
        segment_ok(org_id).then(|| format!("{}/{org_id}/application.jwks", self.keystore_base))
    }

    /// The key-set URL of one software of an organisation, under the same rule.
    pub fn software_url_of(&self, org_id: &str, software_id: &str) -> Option<String> {
        (segment_ok(org_id) && segment_ok(software_id)).then(|| {
            format!(
                "{}/{org_id}/{software_id}/application.jwks",
                self.keystore_base
            )
        })
    }

    /// The verifier for `kid` in the first of `urls` that publishes it.
    async fn find(
        &self,
        urls: impl IntoIterator<Item = String>,
        kid: &str,
    ) -> Result<Option<Arc<dyn JwsVerifier>>, PaymentsError> {
        for url in urls {
            let found = self
                .sets
                .verifier(&url, Some(kid))
                .await
                .map_err(|err| match err {
                    AuthError::Fetch { url, reason } => PaymentsError::Keystore { url, reason },
                    other => PaymentsError::Keystore {
                        url: url.clone(),
                        reason: other.to_string(),
                    },
                })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The keys of a sender that a client certificate names: its software's set first, then
    /// its organisation's.
    pub fn of_software<'a>(&'a self, software_id: &'a str) -> SoftwareKeys<'a> {
        SoftwareKeys {
            keys: self,
            software_id,
        }
    }
}

fn segment_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[async_trait]
impl OrganisationKeys for DirectoryKeys {
    async fn key(
        &self,
        org_id: &str,
        kid: &str,
    ) -> Result<Option<Arc<dyn JwsVerifier>>, PaymentsError> {
        self.find(self.url_of(org_id), kid).await
    }
}

/// [`DirectoryKeys::of_software`].
pub struct SoftwareKeys<'a> {
    keys: &'a DirectoryKeys,
    software_id: &'a str,
}

#[async_trait]
impl OrganisationKeys for SoftwareKeys<'_> {
    async fn key(
        &self,
        org_id: &str,
        kid: &str,
    ) -> Result<Option<Arc<dyn JwsVerifier>>, PaymentsError> {
        if !segment_ok(self.software_id) {
            return Ok(None);
        }
        let urls = [
            self.keys.software_url_of(org_id, self.software_id),
            self.keys.url_of(org_id),
        ];
        self.keys.find(urls.into_iter().flatten(), kid).await
    }
}
