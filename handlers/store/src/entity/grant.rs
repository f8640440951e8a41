//! A grant: what a user authorised for a client; carries the refresh token (by hash) and is
//! what revocation switches off.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_grant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub grant_id: String,
    pub brand: String,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    #[sea_orm(nullable)]
    pub consent_id: Option<String>,
    #[sea_orm(unique, nullable)]
    pub refresh_hash: Option<String>,
    /// acr, auth_time, certificate thumbprint... as JSON.
    #[sea_orm(column_type = "Text")]
    pub claims: String,
    pub expires_at: i64,
    pub revoked: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
