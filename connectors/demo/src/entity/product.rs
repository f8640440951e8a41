//! `demo_product`: one shareable resource (an account, a card, a credit contract).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "demo_product")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ring: String,
    /// The resource id the APIs expose (accountId, creditCardAccountId, contractId).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner_id: String,
    /// The resources API type: `ACCOUNT`, `CREDIT_CARD_ACCOUNT`, `LOAN`, ...
    pub kind: String,
    /// For accounts, the account type the `accountType` filter matches.
    #[sea_orm(nullable)]
    pub account_type: Option<String>,
    /// The resources API status; anything but `AVAILABLE` refuses reads.
    pub status: String,
    /// Display order within the owner's products.
    pub seq: i32,
    /// Sealed label for the consent screen.
    #[sea_orm(column_type = "Text")]
    pub label: String,
    /// Sealed JSON object: one spec-shaped document per section (`list`, `detail`, ...).
    #[sea_orm(column_type = "Text")]
    pub body: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
