//! The crate's one error type: internal failures only. Refusals a caller can cause are values
//! ([`crate::state::Refusal`], [`crate::permissions::PermissionError`]), mapped to HTTP in
//! `api` and `management`; an internal failure answers 500 and is logged without documents.

use aberta_runtime::connector::ConnectorError;

#[derive(Debug, thiserror::Error)]
pub enum ConsentsError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("resources connector: {0}")]
    Connector(#[from] ConnectorError),
    /// A stored row no longer parses (an unknown status, say).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<ConsentsError> for aberta_auth::AuthError {
    fn from(err: ConsentsError) -> Self {
        match err {
            ConsentsError::Store(e) => Self::Store(e),
            ConsentsError::Db(e) => Self::Store(aberta_store::StoreError::Db(e)),
            other => Self::Fetch {
                url: "consents".to_string(),
                reason: other.to_string(),
            },
        }
    }
}
