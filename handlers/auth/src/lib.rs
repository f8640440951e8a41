//! The FAPI-BR v2 authorization server of the account holder: discovery and JWKS, PAR,
//! the authorization endpoint and consent portal, the token endpoint (with certificate-bound,
//! self-contained access tokens), userinfo, introspection, revocation, and DCR/DCM through the
//! generated `DcrApi`. Every record is per brand; the brand comes from the request's host.

// Checks that refuse a request return the response to send as their error.
#![allow(clippy::result_large_err)]

mod access_token;
mod authorize;
pub mod bearer;
pub mod brand;
mod client_auth;
mod client_meta;
pub mod config;
pub mod consent;
mod crypto;
mod dcr;
mod dcr_guard;
mod discovery;
mod error;
mod form;
mod id_token;
pub mod identity;
mod interaction;
mod introspect;
pub mod jwks;
mod keys;
mod par;
mod portal;
mod request_object;
pub mod sandbox;
pub mod server;
mod state;
mod time;
mod token;
mod userinfo;

pub use access_token::TokenInfo;
pub use bearer::BearerRefusal;
pub use config::{AuthConfig, BrandConfig};
pub use error::{AuthError, OAuthError};
pub use state::AuthServer;
