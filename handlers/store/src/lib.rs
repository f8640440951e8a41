//! Durable state of the authorization server (PAR requests, codes, grants, clients, portal
//! sessions, revocations, per-brand secrets) in one relational database through sea-orm:
//! an embedded SQLite file by default, PostgreSQL in production. Every row carries its brand.

mod error;
mod migrate;
mod store;

pub mod entity;

pub use error::{Result, StoreError};
pub use store::{CodeOutcome, Store};
