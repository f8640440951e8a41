//! The tables, one sea-orm entity per module. Times are Unix seconds; JSON documents are text.

pub mod assertion;
pub mod client;
pub mod code;
pub mod consent;
pub mod grant;
pub mod outbox;
pub mod par;
pub mod revocation;
pub mod secret;
pub mod session;
