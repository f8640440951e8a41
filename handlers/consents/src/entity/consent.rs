//! One data-sharing consent. Documents are sealed (`KeyRing`) with a blind index beside them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents_consent")]
pub struct Model {
    /// `urn:<brand>:<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub consent_id: String,
    pub brand: String,
    pub client_id: String,
    pub status: String,
    /// Space-separated, in the order the consent holds them.
    #[sea_orm(column_type = "Text")]
    pub permissions: String,
    /// Sealed `loggedUser.document.identification`.
    #[sea_orm(column_type = "Text")]
    pub logged_user_cpf: String,
    pub logged_user_index: String,
    pub logged_user_rel: String,
    /// Sealed `businessEntity.document.identification`.
    #[sea_orm(column_type = "Text", nullable)]
    pub business_cnpj: Option<String>,
    #[sea_orm(nullable)]
    pub business_index: Option<String>,
    #[sea_orm(nullable)]
    pub business_rel: Option<String>,
    pub created_at: i64,
    pub status_updated_at: i64,
    #[sea_orm(nullable)]
    pub expires_at: Option<i64>,
    #[sea_orm(nullable)]
    pub rejected_by: Option<String>,
    #[sea_orm(nullable)]
    pub rejection_reason: Option<String>,
    #[sea_orm(nullable)]
    pub rejection_info: Option<String>,
    /// The accounts the customer picked at the portal, space-separated.
    #[sea_orm(column_type = "Text")]
    pub accounts: String,
    #[sea_orm(nullable)]
    pub is_linked: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
