//! Data-sharing consents of Open Finance Brasil (consents v3.3.1): storage with a pure state
//! machine ([`state`]), the authorization server's consent store, the grant the resource
//! servers check ([`Consents::grant_view`], served as the data crate's `ConsentGate`), the regulated API ([`consents_api`]) and the
//! bank's own management API ([`management_routes`]).

mod api;
mod auth_store;
mod config;
mod core;
mod entity;
mod error;
mod gate;
mod management;
pub mod permissions;
mod records;
pub mod state;
pub mod time;

pub use api::consents_api;
pub use config::ConsentsConfig;
pub use core::{CLOCK, Consents, new_consent_id};
pub use error::ConsentsError;
pub use management::management_routes;
pub use permissions::{PermissionError, PermissionGroup};
pub use records::{
    ConsentGrant, ConsentRecord, ExtensionRecord, HistoryRecord, LinkedResource, NewConsent,
    NewExtension,
};
pub use time::{Clock, ManualClock, SystemClock};

/// The end date the authorization server sees for a consent without one: 2300-01-01.
pub const NO_END_DATE: i64 = 10_413_792_000;

/// The table the consents live in, for tests that read raw rows.
pub const CONSENT_TABLE: &str = "consents_consent";
