//! The crate's one error type.

use aberta_runtime::connector::ConnectorError;

/// What can go wrong opening or reading the demo bank.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored document lacks the section an operation reads (a seed defect).
    #[error("missing section {0}")]
    MissingSection(&'static str),
}

impl From<DemoError> for ConnectorError {
    /// Storage trouble is the backend failing; the message names no customer data.
    fn from(err: DemoError) -> Self {
        tracing::error!(%err, "demo bank backend failure");
        ConnectorError::Backend(err.to_string())
    }
}
