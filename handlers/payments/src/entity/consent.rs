//! A payment consent: its lifecycle in clear, what it asks sealed (it names people and
//! accounts).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments_consent")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub consent_id: String,
    pub brand: String,
    pub client_id: String,
    /// `AWAITING_AUTHORISATION`, `PARTIALLY_ACCEPTED`, `AUTHORISED`, `CONSUMED` or
    /// `REJECTED`.
    pub status: String,
    pub created_at: i64,
    pub status_updated_at: i64,
    /// The deadline of the current status: authorise within 5 minutes of creation, gather
    /// every approval by the bank's deadline, consume within 60 minutes of authorisation.
    pub expires_at: i64,
    /// `rejectionReason.code` (and the spec's detail) once `REJECTED`.
    #[sea_orm(nullable)]
    pub rejection_code: Option<String>,
    #[sea_orm(nullable)]
    pub rejection_detail: Option<String>,
    /// The request's `data` (logged user, business, creditor, payment, debtor account),
    /// sealed.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    /// The debtor account the customer chose at authorisation, sealed; absent when the
    /// consent named it.
    #[sea_orm(column_type = "Text", nullable)]
    pub chosen_debtor_account: Option<String>,
    /// How many people must approve (the bank's rule for the debtor account; 1 for most).
    pub approvals_needed: i32,
    /// The keyed hashes of the approvers so far, as a JSON array (never the CPFs).
    #[sea_orm(column_type = "Text", nullable)]
    pub approvers: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
