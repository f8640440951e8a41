//! The Open Finance Brasil ecosystem around the platform, simulated as real network services:
//! a test PKI ([`pki`]), the participant directory ([`directory`]) and the central metrics
//! platform ([`pcm_sim`]), each served over mutual TLS by our own accept loop ([`tls`]), plus
//! the seeding and contract file of `aberta sandbox` ([`sandbox`]).

// Checks that refuse a request return the `poem::Response` to send back as their error, so
// handlers can return it as is; its size does not matter on these paths.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod cpu_time;
pub mod directory;
pub mod error;
mod files;
mod http_error;
pub mod keys;
pub mod pcm_sim;
pub mod pki;
pub mod registry;
pub mod sandbox;
pub mod subject;
pub mod tls;
pub mod token;

pub use error::{EcosystemError, Result};
