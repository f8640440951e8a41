//! The account holder assembled: the FAPI-BR authorization server, consents v3, the data APIs
//! and a bank connector (the embedded demo bank by default) sharing one database and one
//! mutual-TLS listener, and the internal listener for the bank's own channels.

mod error;
pub mod internal;
pub mod logs;
pub mod operations;
pub mod sandbox;

pub use error::HolderError;
