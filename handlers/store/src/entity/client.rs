//! A registered OAuth client (DCR), one per brand and software statement.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub brand: String,
    /// `<brand>/<software_id>`: the one-client-per-software-statement rule as a unique key.
    #[sea_orm(unique)]
    pub ssa_key: String,
    pub software_id: String,
    pub org_id: String,
    pub jwks_uri: String,
    /// Space-separated scopes granted from the software statement's roles.
    pub scope: String,
    /// The registered metadata as JSON (redirect URIs, webhook URIs, names...).
    #[sea_orm(column_type = "Text")]
    pub metadata: String,
    /// SHA-256 (base64url) of the registration access token.
    pub rat_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
