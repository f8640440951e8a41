//! The payments module's tables (prefix `payments_`).

pub mod idempotency;
pub mod jti;
