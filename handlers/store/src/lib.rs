//! Durable state of the authorization server (PAR requests, codes, grants, clients, portal
//! sessions, revocations, per-brand secrets) in one relational database through sea-orm:
//! an embedded SQLite file by default, PostgreSQL in production. Every row carries its brand.
//! Shared by every module: the events outbox, per-module migrations, and the key ring that
//! seals personal data at rest.

mod error;
mod store;

pub mod entity;
pub mod migrate;
pub mod outbox;
pub mod seal;

pub use error::{Result, StoreError};
pub use seal::{KeyRing, same_secret};
pub use store::{
    CLIENT_DELETED, CLIENT_REGISTERED, CLIENT_UPDATED, CLIENTS_TOPIC, CodeOutcome, Store,
};
