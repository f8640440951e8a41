//! `demo_pix_payment`: one Pix payment and where it is in its lifecycle. What the sweeper and
//! the access checks need is in clear (status, due time, amount, the owner's customer id, the
//! debited account's resource id, the consent URN); the request as received, the debtor
//! account and the cancellation (with the canceller's CPF) are sealed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "demo_pix_payment")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ring: String,
    /// The `paymentId`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The customer (person, or business for a business consent) who pays.
    pub owner_id: String,
    pub consent_id: String,
    /// The debited account (`demo_product.id`).
    pub product_id: String,
    /// Position in the request's `data` list.
    pub seq: i32,
    pub amount_cents: i64,
    /// A payments 4.0.0 status: `RCVD`, `ACCP`, `ACPD`, `ACSC`, `RJCT`, `PDNG`, `SCHD`, `CANC`.
    pub status: String,
    /// The `rejectionReason.code` of a `RJCT` payment.
    #[sea_orm(nullable)]
    pub rejection_code: Option<String>,
    /// When the next automatic transition is due (Unix milliseconds); none once the payment
    /// waits for nobody (`ACSC`, `RJCT`, `CANC`, `PDNG`).
    #[sea_orm(nullable)]
    pub due_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub status_updated_at_ms: i64,
    /// Sealed JSON: `{"request": <CreatePixPaymentData>, "debtorAccount": <DebtorAccount>}`.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// Sealed JSON `PixPaymentCancellation`, once cancelled.
    #[sea_orm(column_type = "Text", nullable)]
    pub cancellation: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
