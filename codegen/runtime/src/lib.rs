//! The hand-written half of every crate under `generated/`.
//!
//! Generated code refers to this crate for everything that is the same across APIs: constraint
//! checks that report JSON pointers and OFB error codes ([`validate`]), the shapes every spec
//! repeats ([`shared`]), the poem-openapi payloads that parse with those checks ([`payload`]),
//! the request context handed to server traits ([`context`]), the checks made before a request
//! is parsed (the method and the authentication hook, [`gate`]), the JWS seam ([`jws`]), the
//! progenitor client hooks ([`client`]) and the connector vocabulary ([`connector`]).

pub mod client;
pub mod connector;
pub mod context;
pub mod document;
pub mod error_body;
pub mod fapi_headers;
pub mod gate;
pub mod jws;
pub mod param;
pub mod payload;
pub mod schema;
pub mod shared;
pub mod validate;

pub use context::{RequestContext, Verified};
pub use validate::{ErrorCode, Pattern, Validate, Validator, Violation, Violations, parse_json};

/// Re-exports the generated crates use, so their manifests stay short.
pub mod reexport {
    pub use async_trait::async_trait;
    pub use poem;
    pub use poem_openapi;
    pub use progenitor_client;
    pub use reqwest;
    pub use serde;
    pub use serde_json;
}
