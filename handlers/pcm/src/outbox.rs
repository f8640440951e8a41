//! The `api_call` table as the reporter's durable outbox.
//!
//! A row is *pending* while `reported_at` is NULL; it is *due* when pending, its
//! `next_attempt_at` has come, and no live lease holds it. A reporter claims due rows by
//! setting `lease_owner` (a fresh token per claim) and `lease_until`, with a conditional UPDATE
//! that re-checks "due", so two instances never hold the same row; on PostgreSQL the
//! candidates are first locked `FOR UPDATE SKIP LOCKED`, so concurrent instances take disjoint
//! rows instead of colliding. Only the claim's holder may record an outcome, and recording
//! clears the lease. A reporter that dies leaves its lease to expire, after which the rows are
//! due again.
//!
//! A row given up on (the PCM refused it and it cannot be fixed, or it cannot be expressed in
//! the PCM's schema) is *refused*: still pending, `next_attempt_at` set to [`PARKED`] so it is
//! never due, `report_error` saying why. [`refused`] lists them; [`requeue_refused`] makes
//! them due again (after a fix or a PCM version bump).

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::Result;
use crate::entity::api_call::{self, Column, Entity};

/// `next_attempt_at` of a refused row: never due.
pub const PARKED: i64 = i64::MAX;

/// Rows per UPDATE of an id list.
const IDS_PER_STATEMENT: usize = 2000;

/// A call the reporter gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCall {
    pub id: i64,
    pub interaction_id: String,
    pub endpoint: String,
    pub method: String,
    pub status_code: i32,
    /// Unix milliseconds.
    pub received_at: i64,
    pub server_org_id: String,
    /// Why: the PCM's message, or what made the call unreportable.
    pub reason: String,
}

fn pending() -> Condition {
    Condition::all().add(Column::ReportedAt.is_null())
}

/// Due at `now` (unix ms).
fn due(now: i64) -> Condition {
    pending().add(Column::NextAttemptAt.lte(now)).add(
        Condition::any()
            .add(Column::LeaseUntil.is_null())
            .add(Column::LeaseUntil.lte(now)),
    )
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Leases up to `limit` rows of `server_org_id` due at `now` to a fresh token; returns it and
/// the rows, oldest first.
pub(crate) async fn claim(
    db: &DatabaseConnection,
    server_org_id: &str,
    now: i64,
    lease: Duration,
    limit: u64,
) -> Result<(String, Vec<api_call::Model>)> {
    let owner = uuid::Uuid::new_v4().to_string();
    let candidates = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(due(now))
        .filter(Column::ServerOrgId.eq(server_org_id))
        .order_by_asc(Column::Id)
        .limit(limit);
    let lease_until = now.saturating_add(millis(lease));
    let leased = if db.get_database_backend() == DatabaseBackend::Postgres {
        let txn = db.begin().await?;
        let ids: Vec<i64> = candidates
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_tuple()
            .all(&txn)
            .await?;
        let leased = take_lease(&txn, &ids, &owner, now, lease_until).await?;
        txn.commit().await?;
        leased
    } else {
        let ids: Vec<i64> = candidates.into_tuple().all(db).await?;
        take_lease(db, &ids, &owner, now, lease_until).await?
    };
    if leased == 0 {
        return Ok((owner, Vec::new()));
    }
    let rows = Entity::find()
        .filter(Column::LeaseOwner.eq(owner.as_str()))
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    Ok((owner, rows))
}

async fn take_lease<C: sea_orm::ConnectionTrait>(
    db: &C,
    ids: &[i64],
    owner: &str,
    now: i64,
    lease_until: i64,
) -> Result<u64> {
    let mut leased = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        leased += Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(owner))
            .col_expr(Column::LeaseUntil, Expr::value(lease_until))
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .filter(due(now))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(leased)
}

/// What to record for a set of claimed rows.
pub(crate) enum Outcome<'a> {
    /// The PCM accepted them at `at` (unix ms).
    Reported { at: i64 },
    /// Try again from `at` (unix ms), keeping `reason` visible.
    RetryAt { at: i64, reason: &'a str },
    /// Give up, keeping `reason` visible.
    Refused { reason: &'a str },
}

/// Records `outcome` for the rows of `ids` that `owner` still holds, and releases them;
/// returns how many it recorded (fewer when a lease was lost).
pub(crate) async fn record(
    db: &DatabaseConnection,
    owner: &str,
    ids: &[i64],
    outcome: Outcome<'_>,
) -> Result<u64> {
    let mut recorded = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let update = Entity::update_many()
            .col_expr(
                Column::ReportAttempts,
                Expr::col(Column::ReportAttempts).add(1),
            )
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None));
        let update = match outcome {
            Outcome::Reported { at } => update
                .col_expr(Column::ReportedAt, Expr::value(at))
                .col_expr(Column::ReportError, Expr::value(Option::<String>::None)),
            Outcome::RetryAt { at, reason } => update
                .col_expr(Column::NextAttemptAt, Expr::value(at))
                .col_expr(Column::ReportError, Expr::value(bounded(reason))),
            Outcome::Refused { reason } => update
                .col_expr(Column::NextAttemptAt, Expr::value(PARKED))
                .col_expr(Column::ReportError, Expr::value(bounded(reason))),
        };
        recorded += update
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(recorded)
}

/// A reason cut to a length any column takes.
fn bounded(reason: &str) -> String {
    let mut end = reason.len().min(1000);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// Recorded calls not yet accepted by the PCM, refused ones excluded.
pub async fn backlog(db: &DatabaseConnection) -> Result<u64> {
    Ok(Entity::find()
        .filter(pending())
        .filter(Column::NextAttemptAt.lt(PARKED))
        .count(db)
        .await?)
}

/// Recorded calls given up on.
pub async fn refused_count(db: &DatabaseConnection) -> Result<u64> {
    Ok(Entity::find()
        .filter(pending())
        .filter(Column::NextAttemptAt.eq(PARKED))
        .count(db)
        .await?)
}

/// Up to `limit` calls given up on, oldest first.
pub async fn refused(db: &DatabaseConnection, limit: u64) -> Result<Vec<RefusedCall>> {
    let rows = Entity::find()
        .filter(pending())
        .filter(Column::NextAttemptAt.eq(PARKED))
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| RefusedCall {
            id: row.id,
            interaction_id: row.interaction_id,
            endpoint: row.endpoint,
            method: row.method,
            status_code: row.status_code,
            received_at: row.received_at,
            server_org_id: row.server_org_id,
            reason: row.report_error.unwrap_or_default(),
        })
        .collect())
}

/// Makes every refused call due at `now` (unix ms) again; returns how many.
pub async fn requeue_refused(db: &DatabaseConnection, now: i64) -> Result<u64> {
    Ok(Entity::update_many()
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .filter(pending())
        .filter(Column::NextAttemptAt.eq(PARKED))
        .exec(db)
        .await?
        .rows_affected)
}

/// Pending, not refused calls received in `[from, to)` (unix ms).
pub(crate) async fn pending_received(db: &DatabaseConnection, from: i64, to: i64) -> Result<u64> {
    Ok(Entity::find()
        .filter(pending())
        .filter(Column::NextAttemptAt.lt(PARKED))
        .filter(Column::ReceivedAt.gte(from))
        .filter(Column::ReceivedAt.lt(to))
        .count(db)
        .await?)
}
