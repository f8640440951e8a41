//! Every status change of a consent (requirements §1.12 item 5: full audit history).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consent_id: String,
    pub brand: String,
    /// `None` for the creation.
    #[sea_orm(nullable)]
    pub from_status: Option<String>,
    pub to_status: String,
    /// `TPP:<client id>`, `USER`, `ASPSP`, or `CLOCK` for expiries.
    pub actor: String,
    /// The rejection reason or the event type.
    #[sea_orm(nullable)]
    pub reason: Option<String>,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
