//! The crate's one error type: failures of the platform itself (storage, the token store, a
//! consent source), never a refusal of the caller. Every variant answers 500.

/// A failure while deciding or serving a request.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("storage: {0}")]
    Store(#[from] sea_orm::DbErr),
    #[error("migration: {0}")]
    Migrate(#[from] aberta_store::StoreError),
    #[error("authorization server: {0}")]
    Auth(#[from] aberta_auth::AuthError),
    /// The consent source failed (the adapter says why).
    #[error("consent source: {0}")]
    Consent(String),
}
