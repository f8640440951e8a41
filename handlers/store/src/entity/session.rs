//! A consent-portal session: one authorization request on its way through login and approval.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    pub brand: String,
    pub request_uri: String,
    pub client_id: String,
    /// The authenticated user as JSON once login succeeded.
    #[sea_orm(column_type = "Text", nullable)]
    pub user: Option<String>,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
