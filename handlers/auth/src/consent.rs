//! The consent store the authorization server needs ([`ConsentStore`]), implemented later by
//! the consents and payments modules, and [`DbConsents`], a database-backed implementation for
//! the sandbox and tests until they land.

use aberta_store::Store;
use aberta_store::entity::consent;
use async_trait::async_trait;

use crate::error::AuthError;
use crate::identity::EndUser;

pub const AWAITING_AUTHORISATION: &str = "AWAITING_AUTHORISATION";
pub const AUTHORISED: &str = "AUTHORISED";
pub const REJECTED: &str = "REJECTED";

/// What the AS needs to know about a consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentView {
    pub consent_id: String,
    pub client_id: String,
    pub status: String,
    /// `loggedUser.document.identification`.
    pub logged_user_cpf: String,
    /// `businessEntity.document.identification`, for business consents.
    pub business_cnpj: Option<String>,
    pub permissions: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// What a payment consent asks, for the consent screen; `None` for data sharing.
    pub payment: Option<PaymentSummary>,
}

/// A payment consent as the consent screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSummary {
    /// Label and value pairs: amount, creditor, date or schedule, Pix details.
    pub lines: Vec<(String, String)>,
    /// The accounts the customer may pay from, to pick one (`account`), when the consent
    /// names none; empty when it does.
    pub accounts: Vec<crate::identity::UserAccount>,
}

/// Why an authorization was refused on the consent's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAwaiting,
    OtherUser,
    OtherBusiness,
}

/// Consents as the authorization server sees them.
#[async_trait]
pub trait ConsentStore: Send + Sync + 'static {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentView>, AuthError>;

    /// Marks the consent authorised by `user` for `accounts`; `Ok(Err(_))` when the rules of
    /// requirements §1.12 refuse it.
    async fn authorise(
        &self,
        brand: &str,
        consent_id: &str,
        user: &EndUser,
        accounts: &[String],
    ) -> Result<Result<(), Refusal>, AuthError>;

    /// The user rejected (or failed) the authorization.
    async fn reject(&self, brand: &str, consent_id: &str) -> Result<(), AuthError>;
}

/// Checks the §1.12 rules against a consent.
pub fn check_user(view: &ConsentView, user: &EndUser) -> Result<(), Refusal> {
    if view.status != AWAITING_AUTHORISATION {
        return Err(Refusal::NotAwaiting);
    }
    if view.logged_user_cpf != user.cpf {
        return Err(Refusal::OtherUser);
    }
    if let Some(cnpj) = &view.business_cnpj
        && !user.cnpjs.contains(cnpj)
    {
        return Err(Refusal::OtherBusiness);
    }
    Ok(())
}

/// Consents in the `auth_consent` table.
#[derive(Debug, Clone)]
pub struct DbConsents {
    store: Store,
}

impl DbConsents {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates (or replaces) a consent awaiting authorisation: what the consents API will do.
    pub async fn create(&self, brand: &str, view: &ConsentView) -> Result<(), AuthError> {
        self.store
            .upsert_consent(consent::Model {
                consent_id: view.consent_id.clone(),
                brand: brand.to_string(),
                client_id: view.client_id.clone(),
                status: view.status.clone(),
                logged_user_cpf: view.logged_user_cpf.clone(),
                business_cnpj: view.business_cnpj.clone(),
                permissions: view.permissions.join(" "),
                accounts: String::new(),
                expires_at: view.expires_at,
                updated_at: crate::time::now(),
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl ConsentStore for DbConsents {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentView>, AuthError> {
        Ok(self
            .store
            .consent(brand, consent_id)
            .await?
            .map(|row| ConsentView {
                consent_id: row.consent_id,
                client_id: row.client_id,
                status: row.status,
                logged_user_cpf: row.logged_user_cpf,
                business_cnpj: row.business_cnpj,
                permissions: row
                    .permissions
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                expires_at: row.expires_at,
                payment: None,
            }))
    }

    async fn authorise(
        &self,
        brand: &str,
        consent_id: &str,
        user: &EndUser,
        accounts: &[String],
    ) -> Result<Result<(), Refusal>, AuthError> {
        let Some(view) = self.consent(brand, consent_id).await? else {
            return Ok(Err(Refusal::NotAwaiting));
        };
        if let Err(refusal) = check_user(&view, user) {
            return Ok(Err(refusal));
        }
        let moved = self
            .store
            .transition_consent(
                brand,
                consent_id,
                AWAITING_AUTHORISATION,
                AUTHORISED,
                Some(&accounts.join(" ")),
                crate::time::now(),
            )
            .await?;
        Ok(if moved {
            Ok(())
        } else {
            Err(Refusal::NotAwaiting)
        })
    }

    async fn reject(&self, brand: &str, consent_id: &str) -> Result<(), AuthError> {
        self.store
            .transition_consent(
                brand,
                consent_id,
                AWAITING_AUTHORISATION,
                REJECTED,
                None,
                crate::time::now(),
            )
            .await?;
        Ok(())
    }
}
