//! The crate's one error type: failures of our side (database, keystore, signing), which a
//! payment endpoint answers with 500. Refusals a caller causes are values of their own:
//! [`crate::signed::MessageError`], [`crate::idempotency::KeyRefusal`] and the non-fresh
//! [`crate::idempotency::Claim`]s, each with the answer the spec gives. Messages never carry
//! tokens, keys or message bodies.

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// The directory keystore could not be read.
    #[error("keystore {url}: {reason}")]
    Keystore { url: String, reason: String },
    /// A response could not be signed.
    #[error("signing: {0}")]
    Signing(String),
    /// The webhook outbox refused a notification.
    #[error("webhooks: {0}")]
    Webhooks(#[from] aberta_webhooks::WebhooksError),
    /// A stored row no longer fits what this code expects.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}
