//! The consents module's tables (prefix `consents_`).

pub mod consent;
pub mod extension;
pub mod history;
pub mod resource;
