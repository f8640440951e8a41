//! The Data Transmitter's resource servers: resources 3.1.0 and the phase-2 customer-data
//! APIs (customers, accounts, credit cards, loans, financings, invoice financings, unarranged
//! overdrafts), implemented over the generated server traits.
//!
//! Every operation first passes the [`guard::ResourceGuard`] (token, scope, consent,
//! permission, resource, operational limit); only a request entitled to an answer reaches the
//! bank through the generated connector traits. Lists of products are filtered to the
//! consent's available resources and paginated here; sub-resource reads paginate through the
//! connector.

pub mod apis;
pub mod consent;
pub mod dates;
pub mod endpoints;
pub mod error;
pub mod guard;
pub mod limits;
pub mod pagination;
pub mod recall;
pub mod refusal;

pub use apis::{DataApis, DataConnectors};
pub use consent::{ConsentGate, DataConsent, LinkedResource};
pub use error::DataError;
pub use guard::{Access, ResourceGuard};
pub use limits::OperationalLimits;
pub use refusal::Refusal;
