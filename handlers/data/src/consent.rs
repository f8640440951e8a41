//! The seam to the consents module: what the resource servers need to know about a
//! data-sharing consent. The consents crate implements [`ConsentGate`].

use async_trait::async_trait;

use crate::error::DataError;

/// Reads a consent of a brand; one call per protected request.
#[async_trait]
pub trait ConsentGate: Send + Sync + 'static {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<DataConsent>, DataError>;
}

/// A data-sharing consent as the resource servers see it.
#[derive(Clone, PartialEq, Eq)]
pub struct DataConsent {
    pub consent_id: String,
    pub client_id: String,
    /// `AUTHORISED`, `AWAITING_AUTHORISATION` or `REJECTED` (consents 3.3.1).
    pub status: String,
    /// Unix seconds; `None` for an indeterminate consent.
    pub expires_at: Option<i64>,
    pub permissions: Vec<String>,
    /// The customer's CPF. Personal data: never in `Debug`.
    pub customer_cpf: String,
    /// The business's CNPJ for a business consent. Personal data: never in `Debug`.
    pub business_cnpj: Option<String>,
    pub resources: Vec<LinkedResource>,
}

impl std::fmt::Debug for DataConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataConsent")
            .field("consent_id", &self.consent_id)
            .field("client_id", &self.client_id)
            .field("status", &self.status)
            .field("expires_at", &self.expires_at)
            .field("permissions", &self.permissions)
            .field("customer_cpf", &"***")
            .field("business_cnpj", &self.business_cnpj.as_ref().map(|_| "***"))
            .field("resources", &self.resources)
            .finish()
    }
}

impl DataConsent {
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// The linked resource `resource_id` of `resource_type`, if the consent covers it.
    pub fn resource(&self, resource_type: &str, resource_id: &str) -> Option<&LinkedResource> {
        self.resources
            .iter()
            .find(|r| r.resource_id == resource_id && r.resource_type == resource_type)
    }

    /// Whether `resource_id` of `resource_type` is linked and `AVAILABLE`.
    pub fn is_available(&self, resource_type: &str, resource_id: &str) -> bool {
        self.resource(resource_type, resource_id)
            .is_some_and(|r| r.status == AVAILABLE)
    }
}

/// A product the customer linked to the consent (resources 3.1.0 vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedResource {
    pub resource_id: String,
    /// `ACCOUNT`, `CREDIT_CARD_ACCOUNT`, `LOAN`, `FINANCING`, `UNARRANGED_ACCOUNT_OVERDRAFT`,
    /// `INVOICE_FINANCING`.
    pub resource_type: String,
    /// `AVAILABLE`, `UNAVAILABLE`, `TEMPORARILY_UNAVAILABLE`, `PENDING_AUTHORISATION`.
    pub status: String,
}

pub const AUTHORISED: &str = "AUTHORISED";
pub const AVAILABLE: &str = "AVAILABLE";
pub const UNAVAILABLE: &str = "UNAVAILABLE";
pub const TEMPORARILY_UNAVAILABLE: &str = "TEMPORARILY_UNAVAILABLE";
pub const PENDING_AUTHORISATION: &str = "PENDING_AUTHORISATION";
