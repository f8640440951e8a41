//! The crate's one error type. Delivery failures of a receiver (refused connection, timeout,
//! non-2xx answer) are not errors: they are recorded on the row and retried. What is here is
//! our side failing (the database) or a caller handing us something unusable (a webhook base
//! that is not an `https` URL, an empty resource id, an impossible policy). Messages never
//! carry request bodies or certificates.

#[derive(Debug, thiserror::Error)]
pub enum WebhooksError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// The webhook base or target is not an absolute `https` URL that can take a path.
    #[error("webhook URL {url:?}: {reason}")]
    Url { url: String, reason: &'static str },
    /// A consent or payment id that cannot be a path segment.
    #[error("resource id {0:?} cannot be a path segment")]
    ResourceId(String),
    /// A [`crate::DeliveryPolicy`] that cannot work.
    #[error("delivery policy: {0}")]
    Policy(&'static str),
    /// A stored row no longer fits what this code expects.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}
