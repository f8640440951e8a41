//! The daily rollup of the recorded calls: one row per scope (a brand, or `*` for all),
//! Brasília day and templated endpoint, with the sums of the calls rolled up so far (up to the
//! scope's `status_call_mark`). Rows of the current day grow as the rollup advances.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_call_day")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// The day's start, unix seconds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day_start: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub endpoint: String,
    pub family: String,
    pub invocations: i64,
    /// Sum of `processing_ms`.
    pub total_ms: i64,
    pub errors: i64,
    pub rejections: i64,
    /// The most calls within one second.
    pub peak: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
