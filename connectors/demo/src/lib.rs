//! The embedded demo bank: the sandbox's default backend, and the worked example of a bank
//! implementing the platform's connector traits (see `docs/connectors.md`).
//!
//! [`DemoBank::open`] migrates the `demo_` tables and seeds a fixed set of customers and
//! products once ([`seed`]). Every connector module answers for the customer (or business)
//! the platform names in the [`ConnectorContext`](aberta_runtime::connector::ConnectorContext)
//! and nobody else. The data is the same for every brand the platform serves.
//!
//! Modules: `storage` and `entity` (tables, sealing, paging), [`dates`] (relative dates),
//! `access` (whose resource is it), one module per API under `api`, [`seed`] (the data),
//! [`identity`] (the consent portal's login), and `pix` (Pix payments: the accounts that may
//! pay, the settlement rules of [`PixRules`], the ledger).

mod access;
mod api;
pub mod dates;
mod entity;
mod error;
pub mod identity;
mod pix;
pub mod seed;
mod storage;

use std::sync::Arc;

use aberta_store::{KeyRing, Store};
use chrono::{DateTime, Utc};

pub use error::DemoError;
pub use pix::{DEMO_ISPB, PixRules};

/// The demo bank. Implements every data-sharing connector trait and the portal's
/// [`IdentityConnector`](aberta_auth::identity::IdentityConnector), and for Pix payments
/// [`PaymentsConnector`](ofb_payments_v4::connector::PaymentsConnector) and
/// [`ApprovalRules`](aberta_payments::accounts::ApprovalRules) (the portal finds the accounts
/// to pay from through the accounts connector).
pub struct DemoBank {
    storage: storage::Storage,
    pix: PixRules,
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
        Self::open_with_rules(store, keyring, PixRules::default()).await
    }

    /// [`DemoBank::open`], settling Pix payments by `rules` instead of the defaults.
    pub async fn open_with_rules(
        store: &Store,
        keyring: Arc<KeyRing>,
        rules: PixRules,
    ) -> Result<Arc<Self>, DemoError> {
        let storage = storage::Storage::open(store.connection(), keyring).await?;
        Ok(Arc::new(Self {
            storage,
            pix: rules,
        }))
    }

    /// Advances every Pix payment whose next transition is due at `now` as far as `now`
    /// allows, and returns how many transitions this call made. The platform's sweeper calls
    /// it every second or so; reads advance the payment they read as well, so a late sweep
    /// loses nothing.
    pub async fn settle_due(&self, now: DateTime<Utc>) -> Result<u64, DemoError> {
        let now_ms = now.timestamp_millis();
        let mut moved = 0;
        loop {
            let (rows, full) = self.storage.due_payments(now_ms).await?;
            for row in rows {
                moved += self.advance(row, now_ms).await?.1;
            }
            if !full {
                return Ok(moved);
            }
        }
    }
}
