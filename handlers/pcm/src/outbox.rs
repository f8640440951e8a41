//! The `api_call` table as the reporter's durable outbox.
//!
//! A row is *pending* while `reported_at` is NULL; it is *due* when pending, its
//! `next_attempt_at` has come, and no live lease holds it. A reporter claims due rows so that
//! two instances never hold the same row, and only the claim's holder records an outcome:
//!
//! * on PostgreSQL by locking them `FOR UPDATE SKIP LOCKED` in a transaction that stays open
//!   until the outcomes are recorded: concurrent instances take disjoint rows, a reporter that
//!   dies lets go of its rows with its connection, and a reported row is written once;
//! * on SQLite, which allows one writer at a time, by setting `lease_owner` (a fresh token per
//!   claim) and `lease_until` with a conditional UPDATE that re-checks "due"; recording clears
//!   the lease, and a reporter that dies leaves its lease to expire.
//!
//! A row given up on (the PCM refused it and it cannot be fixed, or it cannot be expressed in
//! the PCM's schema) is *refused*: still pending, `next_attempt_at` set to [`PARKED`] so it is
//! never due, `report_error` saying why. [`refused`] lists them; [`requeue_refused`] makes
//! them due again (after a fix or a PCM version bump).

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, TransactionTrait,
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

/// A claimed batch: its rows, oldest first, and how this reporter holds them until it records
/// their outcomes.
pub(crate) struct Claim {
    pub rows: Vec<api_call::Model>,
    hold: Hold,
}

enum Hold {
    /// PostgreSQL: the rows' locks (`FOR UPDATE SKIP LOCKED`) in a transaction left open until
    /// the outcomes are recorded. Other instances skip the rows; a reporter that dies lets go
    /// of them with its connection. No lease is written, so a reported row is updated once.
    Locks(DatabaseTransaction),
    /// SQLite (one writer at a time, so no transaction can stay open while the PCM answers):
    /// a fresh lease token written into the rows, valid until `lease_until`.
    Lease(String),
}

/// Claims up to `limit` rows of `server_org_id` due at `now` (unix ms), for `lease` where a
/// lease is written.
pub(crate) async fn claim(
    db: &DatabaseConnection,
    server_org_id: &str,
    now: i64,
    lease: Duration,
    limit: u64,
) -> Result<Claim> {
    let due_rows = Entity::find()
        .filter(due(now))
        .filter(Column::ServerOrgId.eq(server_org_id))
        .order_by_asc(Column::Id)
        .limit(limit);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let txn = db.begin().await?;
        let rows = due_rows
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        return Ok(Claim {
            rows,
            hold: Hold::Locks(txn),
        });
    }
    let owner = uuid::Uuid::new_v4().to_string();
    let lease_until = now.saturating_add(millis(lease));
    let ids: Vec<i64> = due_rows
        .select_only()
        .column(Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let leased = Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(owner.as_str()))
            .col_expr(Column::LeaseUntil, Expr::value(lease_until))
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .filter(due(now))
            .exec(db)
            .await?
            .rows_affected;
        if leased > 0 {
            rows.extend(
                Entity::find()
                    .filter(Column::Id.is_in(chunk.iter().copied()))
                    .filter(Column::LeaseOwner.eq(owner.as_str()))
                    .order_by_asc(Column::Id)
                    .all(db)
                    .await?,
            );
        }
    }
    Ok(Claim {
        rows,
        hold: Hold::Lease(owner),
    })
}

impl Claim {
    /// Records `outcome` for the rows of `ids` this claim still holds (on SQLite a lease can
    /// run out); returns how many it recorded.
    pub async fn record(
        &self,
        db: &DatabaseConnection,
        ids: &[i64],
        outcome: Outcome<'_>,
    ) -> Result<u64> {
        match &self.hold {
            Hold::Locks(txn) => record(txn, None, ids, outcome).await,
            Hold::Lease(owner) => record(db, Some(owner), ids, outcome).await,
        }
    }

    /// Lets go of the rows: commits what was recorded.
    pub async fn release(self) -> Result<()> {
        if let Hold::Locks(txn) = self.hold {
            txn.commit().await?;
        }
        Ok(())
    }
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

/// Records `outcome` for the rows of `ids` (those `owner` still leases, when a lease holds
/// them) and clears their lease; returns how many it recorded (fewer when a lease was lost).
async fn record<C: ConnectionTrait>(
    db: &C,
    owner: Option<&str>,
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
        let mut update = update.filter(Column::Id.is_in(chunk.iter().copied()));
        if let Some(owner) = owner {
            update = update.filter(Column::LeaseOwner.eq(owner));
        }
        recorded += update.exec(db).await?.rows_affected;
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

/// Deletes up to `limit` calls the PCM accepted and that were received before `before`
/// (unix ms), oldest first; returns how many. Unreported and refused calls are never deleted.
/// Call again while it returns `limit` to purge a long backlog in short statements.
pub async fn purge_reported(db: &DatabaseConnection, before: i64, limit: u64) -> Result<u64> {
    let old = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::ReceivedAt.lt(before))
        .filter(Column::ReportedAt.is_not_null())
        .order_by_asc(Column::ReceivedAt)
        .limit(limit)
        .into_query();
    Ok(Entity::delete_many()
        .filter(Column::Id.in_subquery(old))
        .exec(db)
        .await?
        .rows_affected)
}
