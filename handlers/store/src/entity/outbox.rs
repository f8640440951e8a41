//! The events outbox: one row per business event, written in the same transaction as the
//! change it records. Delivery to subscribers reads it in `id` order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub brand: String,
    /// e.g. `consents`, `payments`, `clients`.
    pub topic: String,
    /// The id of the thing that changed (a consent id, a client id); order holds per aggregate.
    pub aggregate_id: String,
    /// e.g. `consent.authorised`.
    pub event_type: String,
    /// JSON; never personal data in clear.
    pub payload: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds, once delivered.
    #[sea_orm(nullable)]
    pub published_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
