//! The [`Deliverer`]: claims due notifications under a lease, POSTs them over the caller's
//! mutual-TLS client, and records each outcome.
//!
//! Claiming. A row is due when it is pending, its `next_attempt_at` has come and no live lease
//! holds it. A claim sets a lease (`lease_until = now + lease`) and a fresh claim token with a
//! conditional UPDATE that re-checks "due", so of two instances racing for a row exactly one
//! gets it. On PostgreSQL the candidates are first selected `FOR UPDATE SKIP LOCKED` in the
//! claiming transaction, so concurrent instances pick disjoint rows instead of colliding; on
//! SQLite (one writer at a time) the conditional UPDATE alone decides.
//!
//! Recording. Only the holder of the claim token may record an outcome, and recording clears
//! the lease. An instance that crashes mid-delivery leaves its lease to expire, after which the
//! row is due again: a notification may then be sent twice, never lost (the receiver
//! deduplicates by resource; each attempt has its own interaction id anyway). The lease must
//! outlast a request's timeout, which [`Deliverer::new`] checks.
//!
//! Retrying. Any answer but 2xx, and any transport failure, schedules the next attempt after
//! `first_backoff * 2^(attempt-1)` capped at `max_backoff`, of which a random half is jitter;
//! the attempt numbered `max_attempts` failing marks the row failed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use crate::entity::{self, DELIVERED, FAILED, PENDING};
use crate::notification::{INTERACTION_ID_HEADER, body};
use crate::{Result, WebhooksError};

/// How hard and how often to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt (before jitter); doubles with each failure.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long a claim holds a row; must exceed `request_timeout`, with room for two
    /// database writes.
    pub lease: Duration,
    /// The whole of one POST: connecting, TLS, sending, the answer's head.
    pub request_timeout: Duration,
    /// Rows claimed (and sent concurrently) by one [`Deliverer::deliver_due`].
    pub batch_size: u64,
}

impl Default for DeliveryPolicy {
    /// Ten attempts over about three hours: 30 s, 1 min, 2 min, … capped at one hour.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
            request_timeout: Duration::from_secs(15),
            batch_size: 32,
        }
    }
}

impl DeliveryPolicy {
    fn check(&self) -> Result<()> {
        let refuse = |why| Err(WebhooksError::Policy(why));
        if self.max_attempts == 0 {
            return refuse("max_attempts must be at least 1");
        }
        if self.first_backoff < Duration::from_millis(1) {
            return refuse("first_backoff must be at least 1 ms");
        }
        if self.max_backoff < self.first_backoff {
            return refuse("max_backoff must not be shorter than first_backoff");
        }
        if self.request_timeout.is_zero() {
            return refuse("request_timeout must not be zero");
        }
        if self.lease <= self.request_timeout {
            return refuse("lease must outlast request_timeout");
        }
        if self.batch_size == 0 {
            return refuse("batch_size must be at least 1");
        }
        Ok(())
    }

    /// The wait after `attempts` failed attempts, with `random` choosing the jitter: between
    /// half and all of `first_backoff * 2^(attempts-1)`, capped at `max_backoff`, and never
    /// under 1 ms.
    fn backoff(&self, attempts: u32, random: u64) -> Duration {
        let first = millis(self.first_backoff);
        let cap = millis(self.max_backoff);
        let doublings = attempts.saturating_sub(1).min(63);
        let full = first.saturating_mul(1u64 << doublings).min(cap).max(1);
        let half = full / 2;
        Duration::from_millis(half + random % (full - half + 1)).max(Duration::from_millis(1))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn add(now: DateTime<Utc>, d: Duration) -> i64 {
    now.timestamp_millis()
        .saturating_add(i64::try_from(millis(d)).unwrap_or(i64::MAX))
}

/// What one [`Deliverer::deliver_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Rows this run claimed (each attempted once).
    pub claimed: usize,
    /// Answered 2xx.
    pub delivered: usize,
    /// Failed, with attempts left: scheduled again.
    pub retrying: usize,
    /// Failed their last attempt: now `failed`.
    pub failed: usize,
    /// Attempted, but the lease had passed to another instance before the outcome was
    /// recorded (the request outlived the lease); the other instance's record stands.
    pub lease_lost: usize,
}

/// Delivers the outbox. Cheap to clone; every clone (and every instance of the platform) may
/// run at the same time on one database.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    http: reqwest::Client,
    policy: DeliveryPolicy,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended.
enum Outcome {
    Delivered,
    Retrying,
    Failed,
    LeaseLost,
}

impl Deliverer {
    /// `http` must already present the institution's client certificate and trust the
    /// receivers' CA roots; the deliverer adds only a per-request timeout.
    pub fn new(
        db: DatabaseConnection,
        http: reqwest::Client,
        policy: DeliveryPolicy,
    ) -> Result<Self> {
        policy.check()?;
        Ok(Self {
            inner: Arc::new(Inner { db, http, policy }),
        })
    }

    pub fn policy(&self) -> &DeliveryPolicy {
        &self.inner.policy
    }

    /// Claims up to `batch_size` rows due at `now`, attempts each once (concurrently), and
    /// records the outcomes. Rows rescheduled by this run are due after `now`, so a run never
    /// attempts a row twice. Call again while `claimed == batch_size` to drain a backlog.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<DeliveryReport> {
        let (token, rows) = self.claim(now).await?;
        let mut report = DeliveryReport {
            claimed: rows.len(),
            ..DeliveryReport::default()
        };
        let mut attempts = JoinSet::new();
        for row in rows {
            let this = self.clone();
            let token = token.clone();
            attempts.spawn(async move { this.attempt(row, &token, now).await });
        }
        let mut first_error = None;
        while let Some(joined) = attempts.join_next().await {
            match joined {
                Ok(Ok(Outcome::Delivered)) => report.delivered += 1,
                Ok(Ok(Outcome::Retrying)) => report.retrying += 1,
                Ok(Ok(Outcome::Failed)) => report.failed += 1,
                Ok(Ok(Outcome::LeaseLost)) => report.lease_lost += 1,
                // The row keeps its lease and is retried once it expires.
                Ok(Err(err)) => {
                    tracing::error!(%err, "webhook outcome not recorded");
                    first_error.get_or_insert(err);
                }
                Err(err) => {
                    tracing::error!(%err, "webhook attempt task ended abnormally");
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// Notifications not yet delivered with attempts left.
    pub async fn pending_count(&self) -> Result<u64> {
        crate::pending_count(&self.inner.db).await
    }

    /// Notifications given up on.
    pub async fn failed_count(&self) -> Result<u64> {
        crate::failed_count(&self.inner.db).await
    }

    /// Runs [`deliver_due`](Self::deliver_due) every `interval` (at once again while a run
    /// claimed a full batch) until [`Shutdown::shutdown`]; a run in progress finishes first.
    /// Dropping the [`Shutdown`] handle without calling it leaves the worker running.
    pub fn spawn(self, interval: Duration) -> (JoinHandle<()>, Shutdown) {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let full = usize::try_from(self.inner.policy.batch_size).unwrap_or(usize::MAX);
            loop {
                if *stopped.borrow() {
                    break;
                }
                let backlog = match self.deliver_due(Utc::now()).await {
                    Ok(report) => report.claimed >= full,
                    Err(err) => {
                        tracing::warn!(%err, "webhook delivery run failed");
                        false
                    }
                };
                if backlog {
                    continue;
                }
                tokio::select! {
                    () = until_stopped(&mut stopped) => break,
                    () = tokio::time::sleep(interval) => {}
                }
            }
            tracing::info!("webhook deliverer stopped");
        });
        (task, Shutdown { stop })
    }

    /// Leases up to `batch_size` due rows to a fresh claim token; returns it with the rows.
    async fn claim(&self, now: DateTime<Utc>) -> Result<(String, Vec<entity::Model>)> {
        let db = &self.inner.db;
        let policy = &self.inner.policy;
        let token = Uuid::new_v4().to_string();
        let candidates = entity::Entity::find()
            .select_only()
            .column(entity::Column::Id)
            .filter(due(now))
            .order_by_asc(entity::Column::NextAttemptAt)
            .order_by_asc(entity::Column::Id)
            .limit(policy.batch_size);
        let lease = |ids: Vec<i64>| {
            entity::Entity::update_many()
                .col_expr(
                    entity::Column::LeaseUntil,
                    Expr::value(add(now, policy.lease)),
                )
                .col_expr(entity::Column::ClaimToken, Expr::value(token.clone()))
                .filter(entity::Column::Id.is_in(ids))
                .filter(due(now))
        };
        let leased = if db.get_database_backend() == DatabaseBackend::Postgres {
            let txn = db.begin().await?;
            let ids: Vec<i64> = candidates
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .into_tuple()
                .all(&txn)
                .await?;
            let leased = if ids.is_empty() {
                0
            } else {
                lease(ids).exec(&txn).await?.rows_affected
            };
            txn.commit().await?;
            leased
        } else {
            let ids: Vec<i64> = candidates.into_tuple().all(db).await?;
            if ids.is_empty() {
                0
            } else {
                lease(ids).exec(db).await?.rows_affected
            }
        };
        if leased == 0 {
            return Ok((token, Vec::new()));
        }
        let rows = entity::Entity::find()
            .filter(entity::Column::ClaimToken.eq(token.as_str()))
            .order_by_asc(entity::Column::Id)
            .all(db)
            .await?;
        Ok((token, rows))
    }

    /// One POST of a claimed row, and its outcome recorded.
    async fn attempt(
        &self,
        row: entity::Model,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let policy = &self.inner.policy;
        let event_at = DateTime::from_timestamp_millis(row.event_at)
            .ok_or_else(|| WebhooksError::Corrupt(format!("delivery {}: event time", row.id)))?;
        let interaction_id = Uuid::new_v4().to_string();
        let attempts = row.attempts.saturating_add(1);
        let last_attempt = i64::from(attempts) >= i64::from(policy.max_attempts);
        let sent = self
            .inner
            .http
            .post(&row.target_url)
            .header(CONTENT_TYPE, "application/json")
            .header(INTERACTION_ID_HEADER, &interaction_id)
            .timeout(policy.request_timeout)
            .body(body(event_at))
            .send()
            .await;
        let error = match sent {
            Ok(response) if response.status().is_success() => {
                if response.status() != StatusCode::ACCEPTED {
                    tracing::warn!(
                        delivery = row.id,
                        brand = %row.brand,
                        client_id = %row.client_id,
                        status = response.status().as_u16(),
                        "webhook receiver answered 2xx but not the 202 the spec gives"
                    );
                }
                None
            }
            Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
            Err(err) => Some(transport_error(&err)),
        };
        let update = entity::Entity::update_many()
            .col_expr(entity::Column::Attempts, Expr::value(attempts))
            .col_expr(
                entity::Column::LastInteractionId,
                Expr::value(interaction_id.clone()),
            )
            .col_expr(entity::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(
                entity::Column::ClaimToken,
                Expr::value(Option::<String>::None),
            );
        let (update, outcome) = match &error {
            None => (
                update
                    .col_expr(entity::Column::Status, Expr::value(DELIVERED))
                    .col_expr(
                        entity::Column::DeliveredAt,
                        Expr::value(now.timestamp_millis()),
                    )
                    .col_expr(
                        entity::Column::LastError,
                        Expr::value(Option::<String>::None),
                    ),
                Outcome::Delivered,
            ),
            Some(error) if last_attempt => (
                update
                    .col_expr(entity::Column::Status, Expr::value(FAILED))
                    .col_expr(entity::Column::LastError, Expr::value(error.clone())),
                Outcome::Failed,
            ),
            Some(error) => {
                let wait = policy.backoff(attempts.unsigned_abs(), Uuid::new_v4().as_u64_pair().0);
                (
                    update
                        .col_expr(entity::Column::NextAttemptAt, Expr::value(add(now, wait)))
                        .col_expr(entity::Column::LastError, Expr::value(error.clone())),
                    Outcome::Retrying,
                )
            }
        };
        let recorded = update
            .filter(entity::Column::Id.eq(row.id))
            .filter(entity::Column::ClaimToken.eq(token))
            .exec(&self.inner.db)
            .await?;
        if recorded.rows_affected != 1 {
            tracing::warn!(
                delivery = row.id,
                %interaction_id,
                "webhook lease lost before the outcome was recorded"
            );
            return Ok(Outcome::LeaseLost);
        }
        let (delivery, brand, client_id) = (row.id, &row.brand, &row.client_id);
        match (&outcome, &error) {
            (Outcome::Delivered, _) => tracing::info!(
                delivery, %brand, %client_id, %interaction_id, attempts, "webhook delivered"
            ),
            (Outcome::Failed, Some(error)) => tracing::error!(
                delivery, %brand, %client_id, %interaction_id, attempts, %error,
                "webhook failed for good"
            ),
            (_, error) => tracing::warn!(
                delivery, %brand, %client_id, %interaction_id, attempts, error = error.as_deref().unwrap_or_default(),
                "webhook attempt failed; will retry"
            ),
        }
        Ok(outcome)
    }
}

/// Due at `now`: pending, its time come, no live lease.
fn due(now: DateTime<Utc>) -> Condition {
    let now = now.timestamp_millis();
    Condition::all()
        .add(entity::Column::Status.eq(PENDING))
        .add(entity::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(entity::Column::LeaseUntil.is_null())
                .add(entity::Column::LeaseUntil.lte(now)),
        )
}

/// A transport failure in a few words: its kind and its causes, without the URL (stored
/// beside it already) and bounded in length.
fn transport_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "request"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.len() > 500 {
        let mut end = 500;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Stops a worker started by [`Deliverer::spawn`].
#[derive(Debug)]
pub struct Shutdown {
    stop: watch::Sender<bool>,
}

impl Shutdown {
    /// Asks the worker to stop after its current run; await its `JoinHandle` to know it has.
    pub fn shutdown(self) {
        let _ = self.stop.send(true);
    }
}

/// Resolves once a stop is asked for; never, once the [`Shutdown`] is dropped unused.
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    loop {
        if *stopped.borrow_and_update() {
            return;
        }
        if stopped.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..DeliveryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let p = policy();
        for (attempts, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let low = p.backoff(attempts, 0);
            let high = p.backoff(attempts, u64::MAX - 1);
            assert_eq!(low, Duration::from_millis(full / 2), "attempt {attempts}");
            assert!(high <= Duration::from_millis(full), "attempt {attempts}");
            for random in [1, 17, 12345, u64::MAX] {
                let wait = p.backoff(attempts, random);
                assert!(wait >= low && wait <= Duration::from_millis(full));
            }
        }
        let values: std::collections::HashSet<_> = (0..50).map(|r| p.backoff(1, r)).collect();
        assert!(values.len() > 1, "the jitter varies the wait");
    }

    #[test]
    fn impossible_policies_are_refused() {
        assert!(DeliveryPolicy::default().check().is_ok());
        for broken in [
            DeliveryPolicy {
                max_attempts: 0,
                ..policy()
            },
            DeliveryPolicy {
                first_backoff: Duration::ZERO,
                ..policy()
            },
            DeliveryPolicy {
                max_backoff: Duration::from_millis(10),
                ..policy()
            },
            DeliveryPolicy {
                lease: Duration::from_secs(15),
                ..policy()
            },
            DeliveryPolicy {
                batch_size: 0,
                ..policy()
            },
        ] {
            assert!(matches!(broken.check(), Err(WebhooksError::Policy(_))));
        }
    }
}
