//! The values the core hands out: consents with their documents opened, renewals, history
//! entries, and the grant the resource servers check. `Debug` never prints a document.

use crate::state::{Rejection, Status};

/// A consent as stored, documents opened.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub consent_id: String,
    pub brand: String,
    pub client_id: String,
    pub status: Status,
    pub permissions: Vec<String>,
    pub logged_user_cpf: String,
    pub logged_user_rel: String,
    pub business_cnpj: Option<String>,
    pub business_rel: Option<String>,
    pub created_at: i64,
    pub status_updated_at: i64,
    /// `None`: no end date.
    pub expires_at: Option<i64>,
    pub rejection: Option<Rejection>,
    pub rejection_info: Option<String>,
    /// The accounts the customer picked at the portal.
    pub accounts: Vec<String>,
    pub is_linked: Option<bool>,
}

impl std::fmt::Debug for ConsentRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentRecord")
            .field("consent_id", &self.consent_id)
            .field("brand", &self.brand)
            .field("client_id", &self.client_id)
            .field("status", &self.status)
            .field("permissions", &self.permissions)
            .field("expires_at", &self.expires_at)
            .field("rejection", &self.rejection)
            .finish_non_exhaustive()
    }
}

/// What creating a consent needs (already validated).
#[derive(Clone)]
pub struct NewConsent {
    pub client_id: String,
    pub logged_user_cpf: String,
    pub logged_user_rel: String,
    pub business_cnpj: Option<String>,
    pub business_rel: Option<String>,
    pub permissions: Vec<String>,
    pub expires_at: Option<i64>,
    pub is_linked: Option<bool>,
}

impl std::fmt::Debug for NewConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConsent")
            .field("client_id", &self.client_id)
            .field("permissions", &self.permissions)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A renewal request that passed the security checks.
#[derive(Clone)]
pub struct NewExtension {
    pub expires_at: Option<i64>,
    pub logged_user_cpf: String,
    pub logged_user_rel: String,
    pub customer_ip: String,
    pub customer_user_agent: String,
}

impl std::fmt::Debug for NewExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewExtension")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A stored renewal, documents opened.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtensionRecord {
    pub expires_at: Option<i64>,
    pub previous_expires_at: Option<i64>,
    pub logged_user_cpf: String,
    pub logged_user_rel: String,
    pub customer_ip: String,
    pub customer_user_agent: String,
    pub requested_at: i64,
}

impl std::fmt::Debug for ExtensionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionRecord")
            .field("expires_at", &self.expires_at)
            .field("previous_expires_at", &self.previous_expires_at)
            .field("requested_at", &self.requested_at)
            .finish_non_exhaustive()
    }
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// `None` for the creation.
    pub from_status: Option<String>,
    pub to_status: String,
    /// `TPP:<client id>`, `USER`, `ASPSP` or `CLOCK`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// What a resource server needs to serve a data call under a consent: the data crate's view,
/// which [`Consents`](crate::Consents) serves through its `ConsentGate`.
pub use aberta_data::consent::{DataConsent as ConsentGrant, LinkedResource};
