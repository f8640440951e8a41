//! The one error type of this crate. Capture never returns errors to a request (recording
//! must not fail a call); these surface from the writer, the reporter and the queries.

/// What can go wrong recording or reporting calls.
#[derive(Debug, thiserror::Error)]
pub enum PcmError {
    #[error(transparent)]
    Store(#[from] aberta_store::StoreError),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// The reporter's configuration cannot work (the message says which setting).
    #[error("PCM configuration: {0}")]
    Config(String),
    /// The PCM token endpoint refused or failed; never carries a token.
    #[error("PCM token: {0}")]
    Token(String),
    /// A stored row cannot be read back (the message names the row, never its contents).
    #[error("corrupt call record: {0}")]
    Corrupt(String),
}

/// The crate's result.
pub type Result<T, E = PcmError> = std::result::Result<T, E>;
