//! `demo_balance`: the live available balance of each account, in cents. Seeded from the
//! account's `balances.availableAmount` and debited by Pix settlements in one conditional
//! UPDATE, so it can never go negative. An amount next to a resource id is not personal data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "demo_balance")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ring: String,
    /// The account's resource id (`demo_product.id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub product_id: String,
    pub available_cents: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
