//! A pushed authorization request (RFC 9126), single-use, with expiry.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_par")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_uri: String,
    pub brand: String,
    pub client_id: String,
    /// The validated request object claims as JSON.
    #[sea_orm(column_type = "Text")]
    pub params: String,
    pub expires_at: i64,
    pub consumed: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
