//! A client assertion (`private_key_jwt`) already presented: its client and `jti`, kept until
//! the assertion expires. The primary key refuses a second use at every instance.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_assertion_jti")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub brand: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// A digest of the `jti` (fixed length whatever the client sends).
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    /// The assertion's `exp`: after it the assertion is refused anyway, so the row can go.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
