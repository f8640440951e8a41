//! How far the rollup of the recorded calls has gone, per scope (a brand, or `*` for all):
//! every call received before `rolled_to` is counted in `status_call_day`, none after it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_call_mark")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// Unix milliseconds, on a whole second.
    pub rolled_to: i64,
    /// When the scope's first recorded call was received (unix milliseconds), once there is
    /// one: it decides how many previous days are reported.
    #[sea_orm(nullable)]
    pub first_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
