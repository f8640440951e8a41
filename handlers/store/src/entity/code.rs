//! An authorization code, stored by hash, single-use, linked to the grant it starts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_code")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub brand: String,
    pub client_id: String,
    pub grant_id: String,
    /// redirect_uri, PKCE challenge, nonce... as JSON.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub expires_at: i64,
    pub used: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
