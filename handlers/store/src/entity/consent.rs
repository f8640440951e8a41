//! A consent as the authorization server sees it (the database-backed consent store used until
//! the consents API owns consents).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_consent")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub consent_id: String,
    pub brand: String,
    pub client_id: String,
    pub status: String,
    pub logged_user_cpf: String,
    #[sea_orm(nullable)]
    pub business_cnpj: Option<String>,
    /// Space-separated permissions.
    pub permissions: String,
    /// The accounts the user picked, space-separated.
    pub accounts: String,
    pub expires_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
