//! The health checker's view of one endpoint family, kept in the database so that another
//! instance taking over the checker continues the count of consecutive failures.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_probe")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub family: String,
    pub consecutive_failures: i32,
    /// The first failure of the current run of failures (unix seconds).
    #[sea_orm(nullable)]
    pub failing_since: Option<i64>,
    pub checked_at: i64,
    /// The last probe failure, for operators (never shown on the public status).
    #[sea_orm(nullable, column_type = "Text")]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
