//! The embedded demo bank: the sandbox's default backend, and the worked example of a bank
//! implementing the platform's connector traits (see `docs/connectors.md`).
//!
//! [`DemoBank::open`] migrates the `demo_` tables and seeds a fixed set of customers and
//! products once ([`seed`]). Every connector module answers for the customer (or business)
//! the platform names in the [`ConnectorContext`](aberta_runtime::connector::ConnectorContext)
//! and nobody else. The data is the same for every brand the platform serves.
//!
//! Modules: `storage` and `entity` (tables, sealing, paging), [`dates`] (relative dates),
//! `access` (whose resource is it), one module per API under `api`, [`seed`] (the data), and
//! [`identity`] (the consent portal's login).

mod access;
mod api;
pub mod dates;
mod entity;
mod error;
pub mod identity;
pub mod seed;
mod storage;

use std::sync::Arc;

use aberta_store::{KeyRing, Store};

pub use error::DemoError;

/// The demo bank. Implements every data-sharing connector trait and the portal's
/// [`IdentityConnector`](aberta_auth::identity::IdentityConnector).
pub struct DemoBank {
    storage: storage::Storage,
}

impl std::fmt::Debug for DemoBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoBank").finish_non_exhaustive()
    }
}

impl DemoBank {
    /// Migrates module `demo_bank` and, in the same transaction, seeds the bank for this key
    /// ring if it is not there yet.
    pub async fn open(store: &Store, keyring: Arc<KeyRing>) -> Result<Arc<Self>, DemoError> {
        let storage = storage::Storage::open(store.connection(), keyring).await?;
        Ok(Arc::new(Self { storage }))
    }
}
