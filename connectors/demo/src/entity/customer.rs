//! `demo_customer`: a person (PF) or business (PJ) of the bank.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "demo_customer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ring: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `PF` or `PJ`.
    pub kind: String,
    /// Blind index of the CPF or CNPJ, the only way to look a customer up.
    pub document_index: String,
    /// The stable login subject (PF only; empty for businesses).
    pub subject: String,
    /// Salted SHA-256 of the password (PF users only).
    #[sea_orm(nullable)]
    pub password_hash: Option<String>,
    /// Space-separated ids of the businesses this person represents.
    pub represents: String,
    /// Sealed.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Sealed CPF or CNPJ.
    #[sea_orm(column_type = "Text")]
    pub document: String,
    /// Sealed JSON: the customers API documents (`identification`, `qualification`,
    /// `financialRelations`).
    #[sea_orm(column_type = "Text")]
    pub profile: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
