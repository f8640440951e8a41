//! A Pix payment the platform initiated at the bank: the bank's id and last known status
//! in clear, the request and the bank's answer sealed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments_pix_payment")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub payment_id: String,
    pub brand: String,
    pub client_id: String,
    pub consent_id: String,
    /// The last status seen (`RCVD`, `ACCP`, `ACPD`, `ACSC`, `RJCT`, `PDNG`, `SCHD`, `CANC`).
    pub status: String,
    pub created_at: i64,
    pub status_updated_at: i64,
    /// When the sweeper next asks the bank about it (unix s): soon while it moves, hourly
    /// while it waits for a scheduled day or an analysis.
    pub next_check_at: i64,
    /// The bank's last answer for this payment (`ResponsePixPaymentData`), sealed.
    #[sea_orm(column_type = "Text")]
    pub answer: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
