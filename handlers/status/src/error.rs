//! The crate's one error type. A refused operator request (a scheduled outage announced too
//! late, ending an outage that is over) is not an error: it is a [`crate::rules::Refusal`]
//! answered as 4xx. What is here is our side failing (the database) or a stored row that no
//! longer fits this code. Messages never carry probe bodies or tokens.

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("storage: {0}")]
    Store(#[from] aberta_store::StoreError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A stored row no longer fits what this code expects.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A setting that cannot work (a zero interval, a lease shorter than a round).
    #[error("configuration: {0}")]
    Config(&'static str),
}

/// The crate's result.
pub type Result<T, E = StatusError> = std::result::Result<T, E>;
