//! One outage: scheduled (announced ahead, within the announcement rules), declared by an
//! operator, or detected by the health checker. Times are unix seconds.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_outage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `SCHEDULED`, `DECLARED` or `DETECTED`.
    pub kind: String,
    pub starts_at: i64,
    /// The announced end of a scheduled outage; the operator's estimate for the others.
    #[sea_orm(nullable)]
    pub expected_end_at: Option<i64>,
    /// When it actually ended (a scheduled one ended before its start was cancelled).
    #[sea_orm(nullable)]
    pub ended_at: Option<i64>,
    pub is_partial: bool,
    /// JSON array of endpoint families (`accounts`, `payments`, ...) it affects.
    #[sea_orm(column_type = "Text")]
    pub families: String,
    /// JSON array of the URLs or paths it makes unavailable.
    #[sea_orm(column_type = "Text")]
    pub unavailable_endpoints: String,
    #[sea_orm(column_type = "Text")]
    pub explanation: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `detected` while a detected outage is open, null otherwise: a unique key, so two
    /// health checkers can never open two at once.
    #[sea_orm(unique, nullable)]
    pub open_detected: Option<String>,
    /// The Brasília month (`2026-05`) of a live scheduled outage, null once cancelled: a
    /// unique key, so each month holds at most one scheduled window even when two operators
    /// race.
    #[sea_orm(unique, nullable)]
    pub scheduled_month: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
