//! What a payment-consent or payment change tells the outside, in the change's own
//! transaction: an event in the outbox, and a webhook to each `webhook_uris` base the client
//! registered, for the transitions requirements §7.4 lists (a payment reaching ACSC, RJCT,
//! CANC, PDNG or SCHD; a consent REJECTED or CONSUMED).

use aberta_store::Store;
use aberta_store::entity::client;
use aberta_store::outbox::{self, NewEvent};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::error::PaymentsError;

/// The outbox topic of payment events.
pub const TOPIC: &str = "payments";

/// Payment statuses a receiver is told about.
const PAYMENT_TRIGGERS: [&str; 5] = ["ACSC", "RJCT", "CANC", "PDNG", "SCHD"];
/// Consent statuses a receiver is told about (AUTHORISED only after PARTIALLY_ACCEPTED: the
/// consents module decides).
const CONSENT_TRIGGERS: [&str; 3] = ["REJECTED", "CONSUMED", "AUTHORISED"];

#[derive(Debug, Clone, Default)]
pub struct Notifier {}

impl Notifier {
    /// Creates the webhook outbox table if needed.
    pub async fn new(store: Store) -> Result<Self, PaymentsError> {
        aberta_webhooks::migrate(store.connection()).await?;
        Ok(Self {})
    }

    /// A payment was created or changed status (`payment` is the bank's answer).
    pub async fn payment_changed<C: ConnectionTrait>(
        &self,
        conn: &C,
        brand: &str,
        client_id: &str,
        payment: &Value,
        now: i64,
    ) -> Result<(), PaymentsError> {
        let payment_id = payment["paymentId"].as_str().unwrap_or_default();
        let status = payment["status"].as_str().unwrap_or_default();
        outbox::append(
            conn,
            NewEvent {
                brand,
                topic: TOPIC,
                aggregate_id: payment_id,
                event_type: "payment.status-changed",
                payload: json!({
                    "paymentId": payment_id,
                    "consentId": payment["consentId"],
                    "clientId": client_id,
                    "status": status,
                }),
            },
            now * 1000,
        )
        .await?;
        if PAYMENT_TRIGGERS.contains(&status) {
            self.webhook(conn, brand, client_id, now, |base| {
                aberta_webhooks::payment_url(base, payment_id)
            })
            .await?;
        }
        Ok(())
    }

    /// A payment consent changed status (its event is written by the consent store).
    pub async fn consent_changed<C: ConnectionTrait>(
        &self,
        conn: &C,
        brand: &str,
        client_id: &str,
        consent_id: &str,
        status: &str,
        now: i64,
    ) -> Result<(), PaymentsError> {
        if CONSENT_TRIGGERS.contains(&status) {
            self.webhook(conn, brand, client_id, now, |base| {
                aberta_webhooks::consent_url(base, consent_id)
            })
            .await?;
        }
        Ok(())
    }

    async fn webhook<C, F>(
        &self,
        conn: &C,
        brand: &str,
        client_id: &str,
        now: i64,
        target: F,
    ) -> Result<(), PaymentsError>
    where
        C: ConnectionTrait,
        F: Fn(&str) -> aberta_webhooks::Result<url::Url>,
    {
        // Read through the caller's transaction: on SQLite a second connection could wait
        // for the very lock this transaction holds.
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let Some(client) = client::Entity::find_by_id(client_id.to_string())
            .filter(client::Column::Brand.eq(brand))
            .one(conn)
            .await?
        else {
            return Ok(());
        };
        let metadata: Value = serde_json::from_str(&client.metadata).unwrap_or_default();
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        for base in metadata["webhook_uris"].as_array().into_iter().flatten() {
            let Some(base) = base.as_str() else { continue };
            match target(base) {
                Ok(url) => {
                    aberta_webhooks::enqueue(
                        conn,
                        aberta_webhooks::Notification::new(brand, client_id, url, at),
                    )
                    .await?
                }
                Err(err) => tracing::warn!(%err, client_id, "a webhook base is unusable"),
            }
        }
        Ok(())
    }
}
