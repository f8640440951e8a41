//! Webhook notifications to receivers (requirements 7.4, webhook 1.2.0): when a payment
//! consent or a payment changes state, the account holder POSTs
//! `{"data":{"timestamp":"…Z"}}` to the initiator's registered webhook base, over mutual TLS,
//! with a fresh `x-webhook-interaction-id` per attempt, and the receiver answers 202.
//!
//! Two halves share one durable table (`webhooks_delivery`):
//!
//! * [`enqueue`] writes a [`Notification`] inside the caller's transaction, so a state
//!   transition and its notification commit (or roll back) together;
//! * a [`Deliverer`] claims due rows under a lease, POSTs them, and records the outcome:
//!   delivered on 2xx, otherwise retried with exponential backoff and jitter until
//!   [`DeliveryPolicy::max_attempts`], then kept as failed. A row whose lease expired (its
//!   instance crashed mid-delivery) is claimable again, so nothing is lost across restarts;
//!   several instances on one database never hold the same row at the same time.
//!
//! ```text
//! let txn = db.begin().await?;
//! /* the consent or payment transition, on &txn */
//! let url = aberta_webhooks::consent_url(&webhook_base, &consent_id)?;
//! aberta_webhooks::enqueue(&txn, Notification::new(brand, client_id, url, at)).await?;
//! txn.commit().await?;
//!
//! let deliverer = Deliverer::new(db.clone(), mtls_client, DeliveryPolicy::default())?;
//! let (task, shutdown) = deliverer.spawn(Duration::from_secs(5));
//! ```

mod deliver;
mod entity;
mod error;
mod notification;

pub use deliver::{Deliverer, DeliveryPolicy, DeliveryReport, Shutdown};
pub use error::WebhooksError;
pub use notification::{
    Delivery, DeliveryStatus, INTERACTION_ID_HEADER, Notification, PAYMENTS_VERSION, body,
    consent_url, deliveries, enqueue, failed_count, payment_url, pending_count,
};

/// The crate's result.
pub type Result<T, E = WebhooksError> = std::result::Result<T, E>;

/// The outbox table, for tests that read raw rows.
pub const DELIVERY_TABLE: &str = "webhooks_delivery";

/// Creates (or brings up to date) this module's table. Safe to run from several instances at
/// once: [`aberta_store::migrate::begin`] serialises migrations.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<()> {
    let m = aberta_store::migrate::begin(db, "webhooks").await?;
    if m.current() < 1 {
        m.create_table(entity::Entity).await?;
        m.create_index(
            "idx_webhooks_delivery_due",
            entity::Entity,
            &["status", "next_attempt_at"],
            false,
        )
        .await?;
        m.create_index(
            "idx_webhooks_delivery_claim",
            entity::Entity,
            &["claim_token"],
            false,
        )
        .await?;
        m.create_index(
            "idx_webhooks_delivery_brand",
            entity::Entity,
            &["brand", "client_id"],
            false,
        )
        .await?;
    }
    m.finish(1).await?;
    Ok(())
}
