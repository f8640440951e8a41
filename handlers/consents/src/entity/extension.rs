//! One renewal (`POST /consents/{consentId}/extends`) of a consent.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents_extension")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consent_id: String,
    pub brand: String,
    #[sea_orm(nullable)]
    pub expires_at: Option<i64>,
    #[sea_orm(nullable)]
    pub previous_expires_at: Option<i64>,
    /// Sealed CPF of the user who asked for it.
    #[sea_orm(column_type = "Text")]
    pub logged_user_cpf: String,
    pub logged_user_rel: String,
    /// Sealed `x-fapi-customer-ip-address`.
    #[sea_orm(column_type = "Text")]
    pub customer_ip: String,
    #[sea_orm(column_type = "Text")]
    pub customer_user_agent: String,
    pub requested_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
