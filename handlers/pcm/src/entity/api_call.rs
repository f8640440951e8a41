//! One regulated API call as the platform received it: the source of the PCM reports, the
//! admin metrics and the availability figures. Written off the request path, in batches.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_call")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub brand: String,
    /// `x-fapi-interaction-id` as answered.
    pub interaction_id: String,
    /// The templated path (`/open-banking/accounts/v2/accounts/{accountId}`), never the
    /// concrete one.
    pub endpoint: String,
    pub method: String,
    /// The endpoint family (`accounts`, `payments`, `consents`, `auth`, `dcr`, ...).
    pub family: String,
    pub status_code: i32,
    /// When the request arrived, unix milliseconds.
    pub received_at: i64,
    pub processing_ms: i32,
    /// The client's organisation id (from its certificate), when there was one.
    #[sea_orm(nullable)]
    pub client_org_id: Option<String>,
    /// The client's software statement id, when there was one.
    #[sea_orm(nullable)]
    pub client_ssid: Option<String>,
    /// The institution's own organisation id.
    pub server_org_id: String,
    /// The PCM `additionalInfo` object as JSON (consentId, personType, status, errorCodes,
    /// ...); never personal data in clear.
    pub additional_info: String,
    /// When the PCM accepted it, unix milliseconds.
    #[sea_orm(nullable)]
    pub reported_at: Option<i64>,
    pub report_attempts: i32,
    /// Not before this (unix milliseconds): the reporter's backoff.
    pub next_attempt_at: i64,
    /// The last refusal or failure, kept visible.
    #[sea_orm(nullable)]
    pub report_error: Option<String>,
    /// The reporter instance holding this row, and until when (unix milliseconds).
    #[sea_orm(nullable)]
    pub lease_owner: Option<String>,
    #[sea_orm(nullable)]
    pub lease_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
