//! What a notification is and how it enters the outbox: the target URLs of webhook 1.2.0,
//! the request body, [`enqueue`] inside the caller's transaction, and read-outs of the outbox
//! for operations and metrics.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use url::Url;

use crate::entity::{self, DELIVERED, FAILED, PENDING};
use crate::{Result, WebhooksError};

/// The payments API version in the notification paths (`versionApi` of webhook 1.2.0).
pub const PAYMENTS_VERSION: &str = "v4";

/// The header carrying a fresh UUID v4 per attempt.
pub const INTERACTION_ID_HEADER: &str = "x-webhook-interaction-id";

/// The path every notification lives under, below the receiver's registered base.
const WEBHOOK_PREFIX: [&str; 3] = ["open-banking", "webhook", "v1"];

/// `<base>/open-banking/webhook/v1/payments/v4/consents/{consentId}`.
pub fn consent_url(base: &str, consent_id: &str) -> Result<Url> {
    below(
        base,
        &["payments", PAYMENTS_VERSION, "consents"],
        consent_id,
    )
}

/// `<base>/open-banking/webhook/v1/payments/v4/pix/payments/{paymentId}`.
pub fn payment_url(base: &str, payment_id: &str) -> Result<Url> {
    below(
        base,
        &["payments", PAYMENTS_VERSION, "pix", "payments"],
        payment_id,
    )
}

/// The base with its trailing slashes dropped, then the webhook path, then `id` as one
/// percent-encoded segment (`/` and `%` in it are encoded too).
fn below(base: &str, path: &[&str], id: &str) -> Result<Url> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(WebhooksError::ResourceId(id.to_string()));
    }
    let mut url = https_url(base.trim_end_matches('/'))?;
    let Ok(mut segments) = url.path_segments_mut() else {
        return Err(bad_url(base, "cannot take a path"));
    };
    segments
        .pop_if_empty()
        .extend(WEBHOOK_PREFIX)
        .extend(path)
        .push(id);
    drop(segments);
    Ok(url)
}

fn https_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|_| bad_url(raw, "not an absolute URL"))?;
    if url.scheme() != "https" {
        return Err(bad_url(raw, "webhooks go over mutual TLS: https only"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad_url(raw, "no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad_url(raw, "a webhook base has no query or fragment"));
    }
    Ok(url)
}

fn bad_url(url: &str, reason: &'static str) -> WebhooksError {
    WebhooksError::Url {
        url: url.to_string(),
        reason,
    }
}

/// The request body: `{"data":{"timestamp":"<UTC RFC 3339, seconds, Z>"}}`.
pub fn body(timestamp: DateTime<Utc>) -> String {
    format!(
        r#"{{"data":{{"timestamp":"{}"}}}}"#,
        timestamp.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// One notification to send: to whom (brand and client, for bookkeeping), where, and the time
/// of the transition it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub brand: String,
    pub client_id: String,
    /// From [`consent_url`] or [`payment_url`].
    pub target: Url,
    /// When the transition happened (sent to the second, in UTC).
    pub timestamp: DateTime<Utc>,
}

impl Notification {
    pub fn new(
        brand: impl Into<String>,
        client_id: impl Into<String>,
        target: Url,
        timestamp: DateTime<Utc>,
    ) -> Self {
        Self {
            brand: brand.into(),
            client_id: client_id.into(),
            target,
            timestamp,
        }
    }
}

/// Records `notification` for delivery, due at once. Pass the transaction that makes the
/// transition it reports: rolled back, nothing is ever sent.
pub async fn enqueue<C: ConnectionTrait>(conn: &C, notification: Notification) -> Result<()> {
    let target = https_url(notification.target.as_str())?;
    let now = Utc::now().timestamp_millis();
    let row = entity::ActiveModel {
        id: ActiveValue::NotSet,
        brand: ActiveValue::Set(notification.brand),
        client_id: ActiveValue::Set(notification.client_id),
        target_url: ActiveValue::Set(target.into()),
        event_at: ActiveValue::Set(notification.timestamp.timestamp_millis()),
        status: ActiveValue::Set(PENDING.to_string()),
        attempts: ActiveValue::Set(0),
        next_attempt_at: ActiveValue::Set(now),
        lease_until: ActiveValue::Set(None),
        claim_token: ActiveValue::Set(None),
        last_interaction_id: ActiveValue::Set(None),
        last_error: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now),
        delivered_at: ActiveValue::Set(None),
    };
    entity::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet delivered; attempts remain.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed; kept for inspection, never retried.
    Failed,
}

impl DeliveryStatus {
    fn parse(value: &str) -> Option<Self> {
        match value {
            PENDING => Some(Self::Pending),
            DELIVERED => Some(Self::Delivered),
            FAILED => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One row of the outbox, as operations see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub brand: String,
    pub client_id: String,
    pub target_url: String,
    pub event_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// Set while an instance holds the row (or held it when it crashed).
    pub lease_until: Option<DateTime<Utc>>,
    pub last_interaction_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<entity::Model> for Delivery {
    type Error = WebhooksError;

    fn try_from(row: entity::Model) -> Result<Self> {
        let corrupt = |what: &str| WebhooksError::Corrupt(format!("delivery {}: {what}", row.id));
        let time = |ms: i64| DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time"));
        Ok(Self {
            id: row.id,
            event_at: time(row.event_at)?,
            status: DeliveryStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            attempts: u32::try_from(row.attempts).map_err(|_| corrupt("attempts"))?,
            next_attempt_at: time(row.next_attempt_at)?,
            lease_until: row.lease_until.map(time).transpose()?,
            created_at: time(row.created_at)?,
            delivered_at: row.delivered_at.map(time).transpose()?,
            brand: row.brand,
            client_id: row.client_id,
            target_url: row.target_url,
            last_interaction_id: row.last_interaction_id,
            last_error: row.last_error,
        })
    }
}

/// Every notification of `brand`, oldest first.
pub async fn deliveries<C: ConnectionTrait>(conn: &C, brand: &str) -> Result<Vec<Delivery>> {
    entity::Entity::find()
        .filter(entity::Column::Brand.eq(brand))
        .order_by_asc(entity::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(Delivery::try_from)
        .collect()
}

/// Notifications not yet delivered and still to be tried (a metrics gauge).
pub async fn pending_count<C: ConnectionTrait>(conn: &C) -> Result<u64> {
    count(conn, PENDING).await
}

/// Notifications given up on after the last attempt (a metrics gauge).
pub async fn failed_count<C: ConnectionTrait>(conn: &C) -> Result<u64> {
    count(conn, FAILED).await
}

async fn count<C: ConnectionTrait>(conn: &C, status: &str) -> Result<u64> {
    Ok(entity::Entity::find()
        .filter(entity::Column::Status.eq(status))
        .count(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_webhook_paths() {
        let expected = "https://tpp.example/hook/open-banking/webhook/v1/payments/v4/consents/urn:bank:C1DD-33";
        for base in [
            "https://tpp.example/hook",
            "https://tpp.example/hook/",
            "https://tpp.example/hook///",
        ] {
            assert_eq!(
                consent_url(base, "urn:bank:C1DD-33").unwrap().as_str(),
                expected,
                "{base}"
            );
        }
        assert_eq!(
            payment_url("https://tpp.example", "pay-1")
                .unwrap()
                .as_str(),
            "https://tpp.example/open-banking/webhook/v1/payments/v4/pix/payments/pay-1"
        );
        assert_eq!(
            payment_url("https://tpp.example:8443/", "a/b c%?#")
                .unwrap()
                .as_str(),
            "https://tpp.example:8443/open-banking/webhook/v1/payments/v4/pix/payments/a%2Fb%20c%25%3F%23"
        );
    }

    #[test]
    fn unusable_bases_and_ids_are_refused() {
        for base in [
            "http://tpp.example/hook",
            "tpp.example/hook",
            "https://tpp.example/hook?x=1",
            "https://tpp.example/hook#x",
            "mailto:someone@tpp.example",
        ] {
            assert!(
                matches!(consent_url(base, "urn:a:b"), Err(WebhooksError::Url { .. })),
                "{base}"
            );
        }
        for id in ["", ".", ".."] {
            assert!(matches!(
                payment_url("https://tpp.example", id),
                Err(WebhooksError::ResourceId(_))
            ));
        }
    }

    #[test]
    fn body_carries_the_utc_second() {
        let at = DateTime::parse_from_rfc3339("2026-05-21T05:30:00.987-03:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(body(at), r#"{"data":{"timestamp":"2026-05-21T08:30:00Z"}}"#);
    }
}
