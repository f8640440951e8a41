//! The one error type of the storage layer.

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A uniqueness rule refused the write (e.g. a second client for one software statement).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Sealing or opening a value failed, or the key ring is unusable.
    #[error("encryption at rest: {0}")]
    Crypto(String),
    #[error("invalid database URL: {0}")]
    Url(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
