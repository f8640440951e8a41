//! Vocabulary shared by every generated connector trait: the seam to the bank's backend.

use std::time::Instant;

/// What the platform tells the bank about a call it forwards.
#[derive(Debug, Clone)]
pub struct ConnectorContext {
    pub brand: String,
    /// The customer the consent belongs to (CPF), and the business (CNPJ) for business consents.
    pub customer: Option<crate::shared::Cpf>,
    pub business: Option<crate::shared::Cnpj>,
    pub consent_id: Option<String>,
    /// The consent the call acts under as its API shows it (the `data` of the consent's GET
    /// answer), when the bank needs more than its id: for a Pix payment, the payment consent,
    /// whose `debtorAccount` is the account to debit.
    pub consent: Option<serde_json::Value>,
    pub interaction_id: String,
    /// When the platform must answer; the bank gets what is left of the regulatory budget.
    pub deadline: Option<Instant>,
}

/// A page the bank returns for a paginated read. The platform builds `links` and `meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_records: u64,
}

/// Page coordinates the platform passes on, already checked against the spec's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectorError {
    /// The resource does not exist for this customer.
    #[error("not found")]
    NotFound,
    /// The resource exists but cannot be shared now (blocked, closed, pending).
    #[error("resource unavailable: {0}")]
    Unavailable(String),
    /// A business rule of the bank refuses the request, with the spec's error code.
    #[error("refused with {code}: {detail}")]
    Refused { code: String, detail: String },
    /// The backend did not answer in time.
    #[error("backend timed out")]
    Timeout,
    /// The backend took the request and is still preparing the answer: the caller should ask
    /// again. Resources answers `202 Accepted`; operations that declare no 202 answer as for
    /// [`ConnectorError::Timeout`].
    #[error("backend still preparing the answer")]
    Pending,
    /// The backend failed.
    #[error("backend failure: {0}")]
    Backend(String),
}
