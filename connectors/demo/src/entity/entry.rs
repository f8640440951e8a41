//! `demo_entry`: the paginated items under a product (transactions, bills, warranties). The
//! columns a filter needs are in clear; none of them is personal data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "demo_entry")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ring: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub product_id: String,
    /// `transactions`, `bills` or `warranties`.
    pub section: String,
    /// The bill a card transaction belongs to.
    #[sea_orm(nullable)]
    pub parent_id: Option<String>,
    pub seq: i32,
    /// The entry's date (booking, transaction or due date) in days from today.
    pub day_offset: i32,
    /// What a type filter matches: `CREDITO`/`DEBITO` for accounts, the transaction type for
    /// cards.
    #[sea_orm(nullable)]
    pub tag: Option<String>,
    /// Card transactions: the merchant category code.
    #[sea_orm(nullable)]
    pub mcc: Option<i64>,
    /// Sealed spec-shaped JSON with date tokens.
    #[sea_orm(column_type = "Text")]
    pub body: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
