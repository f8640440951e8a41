//! One `jti` of a signed request body seen by a brand; the primary key (brand, jti) refuses a
//! second use across every instance.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments_jti")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub brand: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// The organisation that sent it.
    pub issuer: String,
    pub seen_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
