//! One `x-idempotency-key` of one client: the request it was first used for (by hash) and,
//! once that request finished, the response to replay. The primary key is the uniqueness rule
//! that makes a key usable once across every instance.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments_idempotency")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub brand: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    /// Hex SHA-256 of the request (see `BodyHash`).
    pub request_hash: String,
    /// The HTTP status answered; `None` while the first request runs.
    #[sea_orm(nullable)]
    pub status: Option<i32>,
    /// The response body to replay (the unsigned payload for signed endpoints).
    #[sea_orm(column_type = "Text", nullable)]
    pub response: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
