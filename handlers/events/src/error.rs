//! The crate's one error type. A subscriber's transport failing (NATS unreachable, an ack that
//! never came) is retried by the publisher and surfaces here only to be logged; what is here
//! is the database failing, a NATS call failing, or a stored row that no longer fits.

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Connecting to NATS, creating the stream, publishing or waiting for an ack failed.
    #[error("nats: {0}")]
    Nats(String),
    /// A sink configuration that cannot work (an empty stream name, a subject prefix with
    /// wildcards).
    #[error("sink configuration: {0}")]
    Config(&'static str),
    /// A stored row no longer fits what this code expects.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl EventsError {
    pub(crate) fn nats(err: impl std::fmt::Display) -> Self {
        Self::Nats(err.to_string())
    }
}
