//! A resource (account, card, contract) linked to a consent when it was authorised.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents_resource")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consent_id: String,
    pub brand: String,
    pub resource_id: String,
    /// resources v3 `type`.
    pub resource_type: String,
    /// resources v3 `status` when linked.
    pub status: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
