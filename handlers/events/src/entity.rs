//! This module's table: one row per external sink (e.g. one NATS stream), holding how far it
//! has delivered and which instance may deliver to it right now.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events_sink")]
pub struct Model {
    /// The sink's name, e.g. `nats:<stream>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The last outbox `seq` the sink acknowledged; everything at or below it is delivered.
    pub cursor: i64,
    /// Made once with the row: prefixes the sink's message ids so that a rebuilt database,
    /// whose outbox ids start again at 1, is never taken for a duplicate by the receiver.
    pub origin: String,
    /// The instance delivering now, while `lease_until` is in the future.
    #[sea_orm(nullable)]
    pub holder: Option<String>,
    /// Unix milliseconds.
    #[sea_orm(nullable)]
    pub lease_until: Option<i64>,
    /// Unix milliseconds of the last cursor move.
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
