//! The payments module's tables (prefix `payments_`).

pub mod consent;
pub mod idempotency;
pub mod jti;
pub mod payment;
pub mod pending;
