//! One webhook notification to deliver (table `webhooks_delivery`): where it goes, the event
//! time it reports, and its delivery state. Times are Unix milliseconds. The row holds no
//! personal data: the target URL carries only the consent or payment id.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub brand: String,
    /// The payment initiator's client (its `webhook_uris` gave the target).
    pub client_id: String,
    #[sea_orm(column_type = "Text")]
    pub target_url: String,
    /// When the transition happened: the body's `timestamp`.
    pub event_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// Not to be tried before this.
    pub next_attempt_at: i64,
    /// While in the future, an instance holds the row and no other may claim it.
    #[sea_orm(nullable)]
    pub lease_until: Option<i64>,
    /// The claim holding the lease; only its holder may record the outcome.
    #[sea_orm(nullable)]
    pub claim_token: Option<String>,
    /// The `x-webhook-interaction-id` of the last attempt.
    #[sea_orm(nullable)]
    pub last_interaction_id: Option<String>,
    /// Why the last attempt failed (status or transport error; never a body).
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: i64,
    #[sea_orm(nullable)]
    pub delivered_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
