//! A payment request between its claim and its answer: written with the claim (the consent
//! consumed, the key in flight), removed with the answer. One left behind is a request whose
//! instance stopped while the bank was being called; the recovery sends it again (the bank
//! recognises a repeated request by its `endToEndId`s) and completes the claim.
//!
//! A row names the instance that wrote it (`owner_name`, stable across its restarts) and that
//! instance's run (`owner_run`, new at each start): a row of the same name and another run was
//! left by a previous run, which is dead, so a restarted instance finishes it at once. Rows of
//! other instances (or without an owner, from before the columns) wait the recovery delay.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments_pending_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub brand: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    /// The claim's request hash (hex), to complete that very claim.
    pub request_hash: String,
    pub consent_id: String,
    /// The request's `data` (the payments), sealed.
    #[sea_orm(column_type = "Text")]
    pub items: String,
    /// The `links.self` of the answer.
    pub self_link: String,
    pub created_at: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub owner_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub owner_run: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
