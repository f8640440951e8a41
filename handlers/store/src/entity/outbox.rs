//! The events outbox: one row per business event, written in the same transaction as the
//! change it records. Delivery to subscribers reads it in `seq` order: `id` is taken at insert
//! but a row becomes visible at commit, so a reader following `id` could pass a row whose
//! transaction commits late; `seq` is given after commit by one sequencer (aberta-events).

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
    /// Unix milliseconds, once delivered: acknowledged by the external sink (NATS), or, with
    /// none configured, sequenced and so readable on the embedded sink.
    #[sea_orm(nullable)]
    pub published_at: Option<i64>,
    /// The commit-order position, unique across the table; `None` until the sequencer has
    /// seen the row committed.
    #[sea_orm(nullable)]
    pub seq: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
